"""Markdown as HTML for the gallery's pages (the model cards), through markdown-it-py.

CommonMark with pipe tables; raw HTML in the text is escaped, not passed through. Headings move
down below the page's own h1 and the section's h2. Links keep their text and show their target in
brackets instead of linking (a card's relative links point from its own folder, not the
gallery's); images are shown only where the caller gives them a local file beside the page.
"""
from __future__ import annotations

from typing import Callable

from markdown_it import MarkdownIt
from markdown_it.token import Token

_PARSER = MarkdownIt("commonmark", {"html": False}).enable("table")


def render_markdown(text: str, image: Callable[[str], str | None] | None = None, shift: int = 2) -> str:
    """HTML of `text`. `image(src)` gives the src to use for an image (e.g. a copy beside the
    page), or None to write the image as its alt text and target; `shift` headings levels down."""
    tokens = _PARSER.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + shift, 6)}"
        elif token.type == "inline" and token.children:
            token.children = _inline(token.children, image)
    return _PARSER.renderer.render(tokens, _PARSER.options, {})


def _text(tokens: list[Token]) -> str:
    return _PARSER.renderer.renderInlineAsText(tokens, _PARSER.options, {})


def _inline(children: list[Token], image) -> list[Token]:
    """Links as their text and " (target)"; images by `image`, else as text the same way."""
    out: list[Token] = []
    opened: list[tuple[int, str]] = []  # (where the link's text starts in out, its target)
    for t in children:
        if t.type == "link_open":
            opened.append((len(out), str(t.attrGet("href") or "")))
        elif t.type == "link_close" and opened:
            start, href = opened.pop()
            if href and _text(out[start:]) != href:  # an autolink <https://...> already shows its target
                out.append(Token("text", "", 0, content=f" ({href})"))
        elif t.type == "image":
            src = str(t.attrGet("src") or "")
            local = image(src) if image is not None else None
            if local is not None:
                t.attrSet("src", local)
                out.append(t)
            else:
                out.append(Token("text", "", 0, content=f"{_text(t.children or [])} ({src})"))
        else:
            out.append(t)
    return out
