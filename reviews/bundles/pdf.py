"""The bundle's report as PDF, rendered by WeasyPrint from the same HTML, offline."""

from __future__ import annotations


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


def render_pdf(html: str, plots: dict[str, tuple[bytes, str]]) -> bytes:
    """The report as PDF, from the same HTML, with the plots taken from the bundle."""
    from weasyprint import HTML

    return HTML(
        string=html, base_url=_BundleFetcher.BASE, url_fetcher=_BundleFetcher(plots)
    ).write_pdf()
