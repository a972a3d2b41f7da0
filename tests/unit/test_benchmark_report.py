"""docs/benchmarks.md sections: a re-measured section replaces its figures, keeps its reading."""

from __future__ import annotations

from pathlib import Path

from benchmarks.report import KEEP, upsert_row, write_section


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


def test_step_rows_accumulate_and_a_rerun_of_a_step_replaces_its_row(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    header = ["step", "R@10"]
    upsert_row(doc, "Steps", header, "baseline", ["66.0"])
    upsert_row(doc, "Steps", header, "turns not blocks", ["70.0"])
    upsert_row(doc, "Steps", header, "baseline", ["66.5"])
    text = doc.read_text()
    assert text.count("| baseline |") == 1 and "| baseline | 66.5 |" in text
    assert text.index("| baseline |") < text.index("| turns not blocks | 70.0 |")
