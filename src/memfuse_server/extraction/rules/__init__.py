"""The offline, rule-based extractor: facts (M1) and a graph (M2) from one episode, no model.

See ``docs/extraction.md`` for the full list of what it extracts and what it
cannot do. In short:

- **facts**: one per informative sentence, with "I"/"you"/"he" resolved to names
  and relative dates resolved against the message's ``created_at``
  ("last weekend" -> "(on the weekend of 2024-02-24)"); short replies are kept
  together with the question they answer;
- **entities**: speakers, capitalised names typed by title, suffix, gazetteer or
  context, relatives and pets through their owner, quoted titles, a few lower-case
  institutions; aliases for titles, short names and descriptions;
- **relations**: a fixed, documented set of predicates read by patterns.

It cannot parse: it has no grammar, no coreference beyond the last-mentioned rule,
no knowledge of the world beyond small word lists, and reads English only.

Modules, in the order the pipeline uses them: ``text`` (sentences and their kind),
``persons`` (I/you), ``mentions`` with ``names`` and ``spans`` (entity mentions),
``anaphora`` (he/she), ``dates`` with ``daymath`` (time expressions), ``relations``
with ``patterns``, ``entities`` (the registry), ``analysis`` (the one pass),
``facts``, ``graph``, ``extractor``; word lists in ``lexicon`` and ``places``.
"""

from memfuse_server.extraction.rules.extractor import RuleExtractor

__all__ = ["RuleExtractor"]
