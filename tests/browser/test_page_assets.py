"""The pages' files as served, without a browser: routes, security headers, every referenced
asset present, nothing loaded from another origin, and no HTML sinks in the scripts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from query_api.pages import mount_pages
from query_api.pages.routes import CONTENT_SECURITY_POLICY, STATIC_DIR

# Ways a script could turn text into markup or code; the pages use none of them.
HTML_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|srcdoc"
)
HTML_REFERENCE = re.compile(r'\b(?:src|href)="([^"]*)"')
JS_IMPORT = re.compile(r'\bfrom "([^"]+)"|\bimport\("([^"]+)"\)')


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    mount_pages(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pages") as client:
        yield client


async def test_root_leads_to_the_log_page_keeping_the_filters(client: httpx.AsyncClient) -> None:
    answer = await client.get("/?status=Failed&publisher_id=42")
    assert answer.status_code == 307
    assert answer.headers["location"] == "/logs?status=Failed&publisher_id=42"
    assert (await client.get("/")).headers["location"] == "/logs"


@pytest.mark.parametrize(
    ("path", "title"), [("/logs", "Postbacks Logs"), ("/postbacks", "Postbacks")]
)
async def test_pages_and_every_asset_they_reference_are_served(
    client: httpx.AsyncClient, path: str, title: str
) -> None:
    answer = await client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert f"<title>{title}</title>" in answer.text

    references = HTML_REFERENCE.findall(answer.text)
    assert references, "the page references no assets"
    seen: set[str] = set()
    pending = [r for r in references if r.startswith("/static/")]
    while pending:
        asset = pending.pop()
        if asset in seen:
            continue
        seen.add(asset)
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert served.headers["cache-control"] == "no-cache"
        if asset.endswith(".js"):
            # ES modules load only with a JavaScript media type.
            assert "javascript" in served.headers["content-type"], asset
            folder = asset.rsplit("/", 1)[0]
            for relative, dynamic in JS_IMPORT.findall(served.text):
                target = relative or dynamic
                assert target.startswith("./"), f"{asset} imports {target} from elsewhere"
                pending.append(f"{folder}/{target[2:]}")
    assert any(a.endswith(".css") for a in seen)
    assert any(a.endswith("_page.js") for a in seen)


def test_nothing_is_loaded_from_another_origin() -> None:
    for html in STATIC_DIR.rglob("*.html"):
        for reference in HTML_REFERENCE.findall(html.read_text()):
            assert reference.startswith("/"), f"{html.name} refers to {reference}"
        # Inline script and handlers would be refused by the policy anyway; keep them out.
        assert not re.search(r"<script>|\son[a-z]+=", html.read_text()), html.name


def test_scripts_insert_text_never_html() -> None:
    scripts = list(STATIC_DIR.rglob("*.js"))
    assert len(scripts) > 5
    for script in scripts:
        found = HTML_SINKS.findall(script.read_text())
        assert not found, f"{script.name} uses {found}"
