"""Readable text of an HTML page (web_scrape), with the standard library's html.parser: the title, the meta
description, and the text of the body without scripts, styles, navigation and other chrome, block elements on lines
of their own. No browser: text a page's JavaScript would add is not there, and the stage says so."""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "canvas", "iframe", "head", "nav", "footer",
                     "aside", "form", "button", "select"})
BLOCKS = frozenset({"p", "div", "section", "article", "main", "header", "li", "ul", "ol", "table", "tr", "td", "th",
                    "h1", "h2", "h3", "h4", "h5", "h6", "br", "hr", "blockquote", "pre", "dd", "dt", "figcaption"})
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                  "wbr"})
SPACES = re.compile(r"[ \t\r\f\v]+")


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skipping: list[str] = []
        self.in_title = False
        self.title: list[str] = []
        self.parts: list[str] = []
        self.description: str | None = None
        self.language: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs}
        if tag == "html" and values.get("lang"):
            self.language = values["lang"]
        if tag == "meta" and (values.get("name") or values.get("property") or "").lower() in (
                "description", "og:description") and values.get("content") and self.description is None:
            self.description = values["content"]
        if tag == "title":
            self.in_title = True
        if tag in SKIPPED and tag not in VOID and tag != "head":
            self.skipping.append(tag)
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skipping:
            self.parts.append(data)


def readable(html: str) -> dict[str, str | None]:
    """{title, description, language, text}: text is the page's visible prose, one paragraph a line."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    lines = (SPACES.sub(" ", line).strip() for line in "".join(reader.parts).split("\n"))
    return {"title": SPACES.sub(" ", "".join(reader.title)).strip() or None, "description": reader.description,
            "language": reader.language, "text": "\n".join(line for line in lines if line)}
