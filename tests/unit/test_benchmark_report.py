"""docs/benchmarks.md sections: a re-measured section replaces its figures, keeps its reading."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import KEEP, write_section


def test_a_rerun_replaces_the_figures_and_keeps_the_reading(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    write_section(doc, "Load", ["| a | 1 |"])
    write_section(doc, "Other", ["x"])
    text = doc.read_text().replace("| a | 1 |\n", f"| a | 1 |\n\n{KEEP}\n\nWhy it is 1.\n")
    doc.write_text(text)
    write_section(doc, "Load", ["| a | 2 |"])
    text = doc.read_text()
    assert "| a | 2 |" in text and "| a | 1 |" not in text
    assert text.index("| a | 2 |") < text.index("Why it is 1.") < text.index("## Other")
    assert text.count(KEEP) == 1 and text.count("## Load") == 1
