"""Server memory under a class: RSS with 1 and with 50 idle sessions, after 20 failed 8 MB uploads
in one session and once they are cleared, and the peak while one 40-megapixel PNG is refused.

Run: `python benchmarks/memory.py [--sessions 50]`. It starts its own `streamlit run app.py` on a
free port (the Lab on its server path, so that 50 pages do not each compile the in-page runtime)
and drives Debian's Chromium. RSS and its peak (VmHWM) come from /proc/PID/status of the server.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.app_support import CHROMIUM, CHROMIUM_ARGS, free_port, start_server, stop_server  # noqa: E402


def memory(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) of the process in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def open_lab(context, url: str):
    page = context.new_page()
    page.goto(url)
    page.get_by_role("img", name="Drawing pad").wait_for(timeout=120_000)
    return page


def upload(page, path: Path) -> None:
    page.get_by_role("radio", name="Upload", exact=True).click() if page.get_by_role(
        "radio", name="Upload", exact=True).count() else page.get_by_text("Upload", exact=True).first.click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.locator('[data-testid="stAlertContentError"], [data-testid="stImage"]').first.wait_for(timeout=120_000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sessions", type=int, default=50)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        server = start_server({"AE_RUNTIME_FETCH": "0", "AE_MODELS_DIR": str(tmp / "models")}, port, tmp / "server.log")
        url = f"http://127.0.0.1:{port}/"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1366, "height": 900})
                first = open_lab(context, url)
                time.sleep(2)
                one = memory(server.pid)[0]
                pages = [open_lab(context, url) for _ in range(args.sessions - 1)]
                time.sleep(3)
                many = memory(server.pid)[0]
                print(f"server RSS: 1 idle session {one:.0f} MB; {args.sessions} idle sessions {many:.0f} MB "
                      f"({(many - one) / max(1, args.sessions - 1):.2f} MB a session)")
                for page in pages:
                    page.close()

                junk = tmp / "notes.png"
                junk.write_bytes(os.urandom(8 * 1000 * 1000 - 1000))  # just under the 8 MB limit, not an image
                before = memory(server.pid)[0]
                for i in range(20):
                    name = tmp / f"notes-{i}.png"
                    name.write_bytes(junk.read_bytes()[:-i - 1])  # a new file each time
                    upload(first, name)
                after = memory(server.pid)[0]
                first.locator('[data-testid="stFileChipDeleteBtn"]').first.click()
                time.sleep(2)
                cleared = memory(server.pid)[0]
                print(f"20 failed 8 MB uploads in one session: RSS {before:.0f} -> {after:.0f} MB; "
                      f"after removing the file {cleared:.0f} MB")

                big = tmp / "huge.png"
                buf = io.BytesIO()
                Image.new("L", (8000, 5000), 255).save(buf, format="PNG")  # 40 megapixels, a small file
                big.write_bytes(buf.getvalue())
                peak_before = memory(server.pid)[1]
                upload(first, big)
                rss, peak = memory(server.pid)
                print(f"a 40-megapixel PNG ({len(buf.getvalue()) / 1e6:.2f} MB) refused: peak RSS {peak_before:.0f} -> "
                      f"{peak:.0f} MB (+{peak - peak_before:.0f} MB), RSS after {rss:.0f} MB")
                browser.close()
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
