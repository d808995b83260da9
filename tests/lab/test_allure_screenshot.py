"""The README's Allure screenshot is taken here: one fault on the seed lab, a red run and a
`--remediate` run into one results directory (each its own Allure environment through
`--run-label`: the red run stays red beside the green one), the single-file HTML report with
the site picture attached, and headless Chromium's picture of its overview page, written to
docs/allure-overview.png."""
from __future__ import annotations

import base64
import json
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
README_PNG = ROOT / "docs" / "allure-overview.png"
WIDTH, HEIGHT = 1400, 900
# virtual time for the single-file app to decode its data and render; more on a loaded machine
BUDGETS_MS = [8000, 20000, 60000]
# every feature a default run selects (maintenance is opt-in: `-m maintenance`)
FEATURE_TITLES = [m for f in sorted((ROOT / "features").glob("*.feature"))
                  if not f.read_text().startswith("@maintenance")
                  for m in re.findall(r"^Feature:\s*(.+?)\s*$", f.read_text(), re.M)]
# LAB-NOTES.md "pytest-bdd and Allure": no network, no GPU, a throwaway profile
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; `make install-system`)")
    if not (ROOT / "node_modules" / ".bin" / "allure").exists():
        pytest.skip("node_modules/.bin/allure is missing: run `npm ci` (`make install-node`)")
    return path


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered rows of an 8-bit RGB/RGBA non-interlaced PNG (what
    Chromium writes); enough to tell a rendered page from a blank one without Pillow."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]:
            raise AssertionError(f"bad CRC in PNG chunk {kind!r}")
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    assert ihdr, "PNG has no IHDR"
    width, height, depth, ctype, _, _, interlace = ihdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, f"unexpected PNG format {ihdr}"
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    assert len(raw) == height * (stride + 1), "PNG data does not match its size"
    rows, prev = [], bytes(stride)
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        elif ftype != 0:
            raise AssertionError(f"bad PNG filter type {ftype} in row {y}")
        prev = bytes(line)
        rows.append(prev)
    return width, height, [r if bpp == 3 else b"".join(r[i:i + 3] for i in range(0, stride, 4))
                           for r in rows]


def _chromium_run(chromium: str, url: str, budget_ms: int, *args: str):
    with tempfile.TemporaryDirectory(prefix="stackproof-chromium-") as profile:
        return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               f"--window-size={WIDTH},{HEIGHT}",
                               f"--virtual-time-budget={budget_ms}", *args, url],
                              capture_output=True, text=True, timeout=180)


def _categories(index: Path) -> set[str]:
    """The category names of the single-file report (its embedded widgets/categories.json)."""
    m = re.search(r'd\("widgets/categories\.json","([^"]+)"\)', index.read_text())
    assert m, "no widgets/categories.json in the report"
    nodes = json.loads(base64.b64decode(m.group(1)))["nodes"]
    return {n["name"] for n in nodes.values() if n.get("type") == "category"}


def _colours(png: Path) -> tuple[int, int, dict[bytes, int]]:
    width, height, rows = _png_pixels(png.read_bytes())
    colours: dict[bytes, int] = {}
    for row in rows:
        for i in range(0, len(row), 3):
            px = row[i:i + 3]
            colours[px] = colours.get(px, 0) + 1
    return width, height, colours


def test_allure_overview_screenshot(seed_lab, run_suite, fault, tmp_path):
    chromium = _chromium()
    results, report, png = tmp_path / "allure-results", tmp_path / "allure-report", tmp_path / "overview.png"

    host = fault(seed_lab, "hostname-drift")
    red = run_suite(seed_lab, "--alluredir", str(results), "--run-label", "acceptance")
    assert red.rc == 1, red.output
    assert f"test_the_hostname_is_the_inventory_name[{host}]" in red.failed(), red.output
    green = run_suite(seed_lab, "--remediate", "--alluredir", str(results),
                      "--run-label", "remediation")
    assert green.rc == 0, green.output
    assert any(ln.startswith("REMEDIATED") and "hostname" in ln for ln in green.remediations()), \
        green.output

    gen = subprocess.run([str(ROOT / "scripts" / "allure-report.sh"), str(results), str(report)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert gen.returncode == 0, gen.stdout + gen.stderr
    summary = json.loads((report / "summary.json").read_text())
    print("allure summary:", json.dumps(summary["stats"]), summary["status"])
    # before and after: the red run's one failure stays failed in its own environment, the
    # --remediate run's results pass in theirs; nothing collapses into a retry
    assert summary["stats"].get("passed", 0) > 0 and summary["stats"].get("failed", 0) == 1, \
        summary
    assert summary["retryTests"] == [], summary
    # one category per root cause: the red run's one finding is its own root
    cats = _categories(report / "index.html")
    assert f"Root cause: baseline.hostname @ {host}" in cats, cats
    failed = [r for r in map(json.loads, map(Path.read_text, results.glob("*-result.json")))
              if r["status"] == "failed"]
    assert [({"name": "target", "value": host} in r["labels"], "hostname" in r["name"],
             {"name": "run", "value": "acceptance"} in r["labels"]) for r in failed] == \
        [(True, True, True)], failed
    # the site picture, coloured by each run, is a global attachment naming every host
    svgs = [p for p in results.glob("*-attachment.svg")]
    assert len(svgs) == 2, sorted(p.name for p in results.iterdir())
    for svg in svgs:
        text = svg.read_text().replace("&#45;", "-")
        assert all(f">{name}<" in text for name in seed_lab.site.hosts), svg.name

    # Chromium renders the site picture: every host's name is a text node of its DOM
    svg_dom = _chromium_run(chromium, svgs[0].as_uri(), 2000, "--dump-dom").stdout
    svg_texts = {t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg_dom)}
    assert set(seed_lab.site.hosts) <= svg_texts, sorted(svg_texts)

    # the overview, once the app has rendered it: both runs' environments and every feature
    expected = ["acceptance", "--remediate", *FEATURE_TITLES]
    for budget in BUDGETS_MS:
        dom = _chromium_run(chromium, (report / "index.html").as_uri(), budget,
                            "--dump-dom").stdout
        missing = [e for e in expected if e not in dom]
        if not missing:
            break
    assert not missing, f"the overview lacks {missing} after {budget} ms of virtual time"
    for budget in BUDGETS_MS[BUDGETS_MS.index(budget):]:
        shot = _chromium_run(chromium, (report / "index.html").as_uri(), budget,
                             f"--screenshot={png}")
        assert shot.returncode == 0 and png.exists(), shot.stdout + shot.stderr
        width, height, colours = _colours(png)
        if max(colours.values()) < 0.95 * width * height:
            break
    assert (width, height) == (WIDTH, HEIGHT)
    # a blank or error page has a few colours; the overview has text, a chart and badges
    assert len(colours) > 64, f"only {len(colours)} colours: the page did not render"
    assert max(colours.values()) < 0.95 * width * height, "the page is almost one colour"

    README_PNG.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, README_PNG)
