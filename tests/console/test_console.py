"""The web console in a real browser: Playwright driving Debian's Chromium against a real `cairn serve` on loopback.
A screenshot of each view is kept in test-artifacts/console/ (not committed). A script error on a page fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from benchmarks.common import free_port
from tests.conftest import ROOT, SHARED_DATA, wait_serving

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts" / "console"
GLACIER = ("The Lindqvist glacier retreated 42 metres during 2023, the fastest retreat ever measured there. "
           "Glaciologists blame the warm summer winds from the south for the loss of ice.\n\n"
           "The research station beside the glacier was founded in 1961 and now hosts twelve scientists each summer.\n")
QUESTION = "How far did the Lindqvist glacier retreat during 2023?"
EVAL_RUN = {"suite": "chunking", "dataset": "chunking",
            "options": {"variants": ["sentence-256-32"], "corpora": ["state_of_the_union"], "limit": 2}}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    if CHROMIUM is None:
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    work = tmp_path_factory.mktemp("console")
    port = free_port()
    env = {**os.environ, "CAIRN_DATA_DIR": str(work / "data"), "CAIRN_EVAL__DATASETS_DIR": str(SHARED_DATA),
           "CAIRN_LOG_FORMAT": "console", "OMP_NUM_THREADS": "1"}
    env.pop("CAIRN_REDIS_URL", None)
    log = (work / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_serving(f"{base}/healthz", process, 120,
                 lambda: f"cairn serve did not start: {(work / 'server.log').read_text()[-2000:]}")
    # An eval run started now is done by the time the Evals view is opened.
    assert httpx.post(f"{base}/v1/evals", json=EVAL_RUN, timeout=30).status_code == 202
    yield base
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def state() -> dict:
    return {}


def _expected(message: str) -> bool:
    """A refusal the test provokes (no key yet, a reader's forbidden call) is logged by the browser, not an error."""
    return message.startswith("Failed to load resource") and any(f"status of {c}" in message for c in (401, 403))


class Page:
    """A browser page that fails the test on any script error, and blocks every request off loopback."""

    def __init__(self, browser, base: str, key: str | None = None):
        self.context = browser.new_context(viewport={"width": 1100, "height": 900})
        self.context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base) else route.abort())
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" and not _expected(m.text) else None)
        self.page.on("dialog", lambda dialog: dialog.accept())
        self.base = base
        if key:
            self.page.goto(f"{base}/console/")
            self.page.evaluate("key => sessionStorage.setItem('cairn.apiKey', key)", key)

    def open(self, view: str):
        self.page.goto(f"{self.base}/console/#{view}")
        self.page.wait_for_selector(f"#view-{view}:not([hidden])", timeout=30_000)
        return self.page

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors


def test_every_control_is_labelled_and_the_pages_are_small(server, browser):
    assets = sum(len(httpx.get(f"{server}/console/{name}").content) for name in ("", "console.js", "console.css"))
    assert assets < 200_000
    tab = Page(browser, server)
    page = tab.open("ask")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')).map(c => c.id)""")
    assert unlabelled == []
    page.set_viewport_size({"width": 380, "height": 800})  # a narrow window: nothing wider than it
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    tab.close()


def test_uploading_two_files_shows_both_outcomes(server, browser, tmp_path):
    good, bad = tmp_path / "glacier.txt", tmp_path / "clip.mp3"
    good.write_text(GLACIER, encoding="utf-8")
    bad.write_bytes(b"ID3" + bytes(100))
    tab = Page(browser, server)
    page = tab.open("documents")
    page.set_input_files("#file-input", [str(good), str(bad)])
    page.wait_for_selector('#uploads li[data-file="glacier.txt"] .outcome-indexed', timeout=120_000)
    rejected = page.wait_for_selector('#uploads li[data-file="clip.mp3"] .outcome-rejected', timeout=30_000)
    assert "unsupported_type" in rejected.text_content()
    row = page.wait_for_selector('#documents-table tbody tr:has-text("glacier.txt")', timeout=30_000)
    assert "indexed" in row.text_content()
    tab.shot("documents")
    tab.close()


def test_a_document_is_deleted_after_a_confirmation(server, browser):
    upload = httpx.post(f"{server}/v1/documents", files=[("file", ("scratch.txt", b"A scratch note about nothing."))])
    job = upload.json()["status_url"]
    while httpx.get(job).json()["status"] not in ("done", "failed"):
        time.sleep(0.2)
    tab = Page(browser, server)  # the page accepts the confirmation dialog
    page = tab.open("documents")
    row = page.wait_for_selector('#documents-table tbody tr:has-text("scratch.txt")')
    row.query_selector("button:has-text('View text')").click()
    page.wait_for_selector("#source:not([hidden]) #source-text:has-text('A scratch note')")
    row.query_selector("button:has-text('Delete')").click()
    page.wait_for_selector('#documents-table tbody tr:has-text("scratch.txt")', state="detached")
    assert page.query_selector('#documents-table tbody tr:has-text("glacier.txt")') is not None
    tab.close()


def test_a_citation_opens_its_source_with_the_quote_highlighted(server, browser, state):
    tab = Page(browser, server)
    page = tab.open("ask")
    page.fill("#question", QUESTION)
    page.click("#ask-form button[type=submit]")
    card = page.wait_for_selector("#turns li.card", timeout=120_000)
    assert "42 metres" in card.text_content(), card.text_content()
    state["answer_id"] = card.get_attribute("data-answer-id")
    quote = page.text_content("#turns .citations li:first-child blockquote")
    page.click("#turns .answer .cite >> nth=0")
    page.wait_for_selector("#source:not([hidden]) mark#cited")
    assert page.text_content("#source-text mark") == quote
    assert page.text_content(".confidence").startswith(("Well supported", "Supported", "Weakly"))
    tab.shot("ask")
    page.click("button[aria-label='Not helpful']")
    page.wait_for_selector(".feedback [role=status]:has-text('sent to review')")
    tab.close()


def test_the_thumbs_down_is_in_the_review_queue_and_is_approved(server, browser, state):
    tab = Page(browser, server)
    page = tab.open("review")
    item = page.wait_for_selector(f'#review-items li[data-answer-id="{state["answer_id"]}"]', timeout=30_000)
    assert QUESTION in item.text_content()
    tab.shot("review")
    item.query_selector("button:has-text('Approve')").click()
    page.wait_for_selector(f'#review-items li[data-answer-id="{state["answer_id"]}"]', state="detached")
    page.select_option("#review-status", "approved")
    page.wait_for_selector(f'#review-items li[data-answer-id="{state["answer_id"]}"]')
    tab.close()


def test_an_eval_runs_chart_opens(server, browser):
    deadline = time.monotonic() + 300
    while (run := httpx.get(f"{server}/v1/evals").json()["runs"][0])["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, run
        time.sleep(1)
    assert run["status"] == "succeeded", run["error"]
    tab = Page(browser, server)
    page = tab.open("evals")
    card = page.wait_for_selector(f'#eval-runs li[data-run-id="{run["id"]}"]')
    assert "succeeded" in card.text_content()
    card.query_selector("button:has-text('Show charts')").click()
    page.wait_for_function("() => [...document.querySelectorAll('.charts img')].some(i => i.complete && i.naturalWidth > 0)")
    tab.shot("evals")
    tab.close()


def test_operations_and_docs_work_offline(server, browser):
    tab = Page(browser, server)
    page = tab.open("operations")
    page.wait_for_selector("#readiness dd:has-text('ready')")
    tab.shot("operations")
    page.goto(f"{server}/docs")  # every request off loopback is blocked: the assets come from the package
    page.wait_for_selector(".swagger-ui .info .title:has-text('Cairn')", timeout=30_000)
    tab.close()


def test_a_reader_sees_no_editor_actions_and_is_refused_them(server, browser, tmp_path):
    admin = httpx.post(f"{server}/v1/keys", json={"name": "console admin", "role": "admin"}).json()["key"]
    reader = httpx.post(f"{server}/v1/keys", json={"name": "console reader", "role": "reader"},
                        headers={"Authorization": f"Bearer {admin}"}).json()["key"]
    tab = Page(browser, server)  # keys exist now: the console asks for one
    page = tab.page
    page.goto(f"{server}/console/")
    page.wait_for_selector("#view-sign-in:not([hidden])")
    page.fill("#api-key", reader)
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#view-ask:not([hidden])")
    assert "reader" in page.text_content("#who")
    for view in ("review", "evals", "operations"):
        assert page.is_hidden(f'nav a[data-view="{view}"]')
    page.goto(f"{server}/console/#documents")
    page.wait_for_selector('#documents-table tbody tr:has-text("glacier.txt")')
    assert page.is_hidden("#upload") and page.query_selector("#documents-table button.danger") is None
    refused = page.evaluate("""async () => {
        const key = sessionStorage.getItem('cairn.apiKey');
        const body = new FormData(); body.append('file', new Blob(['some text']), 'note.txt');
        const upload = await fetch('/v1/documents', {method: 'POST', body, headers: {Authorization: 'Bearer ' + key}});
        const review = await fetch('/v1/review', {headers: {Authorization: 'Bearer ' + key}});
        return [upload.status, review.status];
    }""")
    assert refused == [403, 403]
    tab.shot("reader")
    tab.close()
