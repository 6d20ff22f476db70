"""Lesson helpers: one lesson topic each, on top of the send path and the data path.

`evidence` (lessons 01-07: a claim that needs many samples, sent on fixed seeds and said in one plain sentence
with its uncertainty), `ab` (lesson 05: the A/B pair behind `widgets.ab_panel`), `structured` (lesson 12:
`response_format` and a validity scorer), `glossary` (every term and the lesson that teaches it;
`python -m labutils.lessons.glossary` writes notebooks/GLOSSARY.md). The package face loads each on first use
(`labutils.evidence`, `labutils.structured`, `labutils.ab`), so `import labutils` stays light.
"""
