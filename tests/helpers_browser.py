"""Load an HTML page in headless Chromium and report which of its images loaded (tests only).

Without selenium or playwright: a copy of the page is written beside it (so relative links
resolve the same way) with a small probe script added; Chromium loads the copy with
``--dump-dom`` and a virtual time budget, the probe writes after the window's ``load`` event
what it found into the DOM, and the dumped DOM is parsed here.

    report = image_load_report("out/index.html")
    assert report["total"] > 0 and not report["broken"]
"""

import html
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

_PROBE_ID = "tichchap-image-probe"
_PROBE = """
<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var report = {total: images.length, loaded: [], broken: []};
  images.forEach(function (img) {
    var entry = {src: img.getAttribute("src"), naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight};
    (img.complete && img.naturalWidth > 0 ? report.loaded : report.broken).push(entry);
  });
  var out = document.createElement("pre");
  out.id = "%s";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>
""" % _PROBE_ID


def find_chromium():
    """The path of a Chromium binary, or None."""
    for path in CHROMIUM_CANDIDATES:
        if os.path.exists(path):
            return path
    return shutil.which("chromium")


def dump_dom(url, timeout=60, budget_ms=5000):
    """The DOM of ``url`` after loading in headless Chromium, as text."""
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium found; install Debian's chromium")
    with tempfile.TemporaryDirectory(prefix="tichchap-chromium-") as profile:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                   "--disable-quic", "--no-first-run", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--disable-extensions",
                   f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", "--dump-dom", url]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or "<html" not in result.stdout.lower():
        raise RuntimeError(f"chromium failed (exit {result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def image_load_report(html_path, timeout=60):
    """``{"total": n, "loaded": [...], "broken": [...]}`` for the images of the page at ``html_path``
    (each entry: src, naturalWidth, naturalHeight) as headless Chromium loaded them."""
    html_path = os.path.abspath(html_path)
    with open(html_path, encoding="utf-8") as f:
        page = f.read()
    closing = page.lower().rfind("</body>")
    probed = page[:closing] + _PROBE + page[closing:] if closing >= 0 else page + _PROBE
    folder = os.path.dirname(html_path)
    fd, probe_path = tempfile.mkstemp(prefix=".probe-", suffix=".html", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(probed)
        dom = dump_dom(pathlib.Path(probe_path).as_uri(), timeout=timeout)
    finally:
        os.unlink(probe_path)
    match = re.search(r'<pre id="%s">(.*?)</pre>' % _PROBE_ID, dom, re.S)
    if match is None:
        raise RuntimeError("the page's load event did not fire within Chromium's time budget")
    return json.loads(html.unescape(match.group(1)))
