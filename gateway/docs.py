"""Interactive API docs for every service, served without any CDN (the city's networks have none)."""

from __future__ import annotations

import json
from pathlib import Path

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

_ASSETS = Path(swagger_ui_bundle.__file__).parent / "vendor"


def _assets_dir() -> Path:
    return next(p for p in sorted(_ASSETS.iterdir()) if p.is_dir() and p.name.startswith("swagger-ui"))


def install_docs(app: FastAPI, services: list[str]) -> None:
    app.mount("/docs/static", StaticFiles(directory=_assets_dir()), name="docs-static")
    urls = [{"url": "/openapi.json", "name": "gateway"}] + [
        {"url": f"/api/{s}/openapi.json", "name": s} for s in services
    ]

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(f"""<!doctype html>
<html><head><meta charset="utf-8"><title>skillpass API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({{urls: {json.dumps(urls)}, dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout",
  persistAuthorization: true}});
</script></body></html>""")
