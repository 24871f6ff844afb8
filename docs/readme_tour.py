"""A mkdocs hook: the README's tour of the API as a page of the site, read at build time.

``docs/tour.md`` holds a marker; this puts in its place the README from the section
``FIRST`` up to (not including) ``AFTER``, with links into ``docs/`` made relative to the
site. Nothing is copied into the repository, so the page cannot drift from the README.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MARKER = "<!-- the README's tour of the API goes here (docs/readme_tour.py) -->"
FIRST = "## Wait for one job"
AFTER = "## Type checking"


def tour(readme: str) -> str:
    """The README's sections from ``FIRST`` to ``AFTER``, its ``docs/`` links made local."""
    text = readme[readme.index(FIRST) : readme.index(AFTER)]
    return re.sub(r"\]\(docs/", "](", text)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the tour page's marker with the README's tour."""
    if MARKER not in markdown:
        return markdown
    readme = Path(config["config_file_path"]).parent / "README.md"
    return markdown.replace(MARKER, tour(readme.read_text(encoding="utf-8")))
