"""The bundle's report as PDF, rendered by WeasyPrint from the same HTML, offline.

The PDF is PDF/A-3a: archival (fonts embedded, sRGB output intent, XMP metadata naming the
conformance) and tagged (headings, lists and tables in a structure tree, for screen readers and
text extraction). Same HTML and plots, same bytes: the file identifier is a digest of the
content, and the metadata carries no time or random id.
"""

from __future__ import annotations

from typing import Any

PDF_VARIANT = "pdf/a-3a"


class _BundleFetcher:
    """Hands WeasyPrint the bundle's own plots and nothing else: no network, no disk."""

    BASE = "https://bundle.invalid/"

    def __new__(cls, plots: dict[str, tuple[bytes, str]]):
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        class Fetcher(URLFetcher):
            def fetch(self, url, headers=None):
                if url.startswith("data:"):  # images inlined in the plots' SVG
                    return super().fetch(url, headers)
                path = url.removeprefix(cls.BASE)
                if not url.startswith(cls.BASE) or path not in plots:
                    raise ValueError(f"not part of the bundle: {url}")
                data, content_type = plots[path]
                return URLFetcherResponse(url, body=data, headers={"Content-Type": content_type})

        return Fetcher()


def render_document(html: str, plots: dict[str, tuple[bytes, str]]) -> Any:
    """The report laid out in pages (a WeasyPrint ``Document``: tests read its pages)."""
    from weasyprint import HTML

    return HTML(
        string=html, base_url=_BundleFetcher.BASE, url_fetcher=_BundleFetcher(plots)
    ).render(pdf_variant=PDF_VARIANT)


def render_pdf(html: str, plots: dict[str, tuple[bytes, str]]) -> bytes:
    """The report as PDF, from the same HTML, with the plots taken from the bundle."""
    pdf: bytes = render_document(html, plots).write_pdf(pdf_variant=PDF_VARIANT)
    return pdf
