"""MkDocs hook: no sitemap without a `site_url`.

A sitemap lists absolute addresses. The site has none (it is opened from the file system
or a local server), and without `site_url` MkDocs and the i18n plugin would write
`<loc>None./</loc>`. So when `site_url` is unset, the sitemap files are removed after the build.
"""

from __future__ import annotations

from pathlib import Path


def on_post_build(config, **kwargs) -> None:
    if config.site_url:
        return
    for name in ("sitemap.xml", "sitemap.xml.gz"):
        (Path(config.site_dir) / name).unlink(missing_ok=True)
