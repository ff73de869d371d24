"""The MLflow UI, in a real headless Chromium, compares runs logged to a real ``mlflow server``.

The run-comparison view must list every ``bleu.*`` metric of the runs with each run's value as
MLflow holds it, formatted the way the UI formats numbers. Two sets of runs: two logged by
``mtforge.tracking.log_pipeline_run`` with distinct BLEU scores (fast), and two real ``baseline``
pipeline runs (``tiny`` config with the pipeline tests' fast overrides, seeds 1 and 2).

The browser is Debian's ``chromium`` (``/usr/bin/chromium``, or ``$MTFORGE_CHROMIUM``), driven
by Playwright without Playwright's own browser download. When either is missing the tests are
skipped, unless ``MTFORGE_REQUIRE_BROWSER=1`` (CI sets it once it has installed chromium).
Screenshots go to ``$MTFORGE_TEST_ARTIFACTS/mlflow-ui/`` (default: the test's tmp_path), with
copies at ``/tmp/mlflow-compare.png`` and ``/tmp/mlflow-compare-pipeline.png``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from mtforge.evaluation.results import MetricScore
from mtforge.tracking import log_pipeline_run
from tests.mlflow_server import mlflow_server
from tests.pipelines.conftest import FAST, SPLIT_LINES

CHROMIUM = Path(os.environ.get("MTFORGE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LATEST_SCREENSHOT = Path("/tmp/mlflow-compare.png")
LATEST_PIPELINE_SCREENSHOT = Path("/tmp/mlflow-compare-pipeline.png")
METRIC_PREFIX = "bleu."


def _browser_missing() -> str | None:
    """Why the browser test cannot run here, or ``None``."""
    if not CHROMIUM.exists():
        return (f"no Chromium at {CHROMIUM}: install Debian's (apt-get install --no-install-recommends chromium) "
                "or set MTFORGE_CHROMIUM")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser_available() -> None:
    reason = _browser_missing()
    if reason is None:
        return
    if os.environ.get("MTFORGE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MTFORGE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def format_metric(value: float) -> str:
    """A metric value as MLflow's UI writes it (``Utils.formatMetric`` of MLflow 3.17.2)."""

    def js_round(x: float, scale: int) -> str:  # Math.round(x * scale) / scale, as JS prints it
        rounded = math.floor(x * scale + 0.5) / scale
        return str(int(rounded)) if rounded == int(rounded) else repr(rounded)

    if value == 0:
        return "0"
    if abs(value) < 1e-3:
        mantissa, exponent = f"{value:.3e}".split("e")
        return f"{mantissa}e{int(exponent):+d}"
    if abs(value) < 10:
        return js_round(value, 1000)
    if abs(value) < 100:
        return js_round(value, 100)
    return js_round(value, 10)


def test_format_metric_matches_the_ui() -> None:
    assert [format_metric(v) for v in (0.0, 0.0001234, 3.14159, 5.0, 12.3456, 12.345, 99.999, 123.45)] == [
        "0", "1.234e-4", "3.142", "5", "12.35", "12.35", "100", "123.5"]


@pytest.fixture(scope="module")
def multi30k_root(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared-data-shaped folder whose ``multi30k/`` holds the first lines of each split
    (the pipeline tests' ``SPLIT_LINES``): the training data and the test set root."""
    root = tmp_path_factory.mktemp("ui-data")
    (root / "multi30k").mkdir()
    for split, n in SPLIT_LINES.items():
        for lang in ("en", "de"):
            lines = (shared_data / "multi30k" / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()[:n]
            (root / "multi30k" / f"{split}.{lang}").write_text("".join(f"{line}\n" for line in lines),
                                                              encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def server(browser_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real tracking server (SQLite store, local proxied artifacts) for this module."""
    with mlflow_server(tmp_path_factory.mktemp("ui-mlflow-server")) as url:
        yield url


def _bleu(value: float, testset: str = "multi30k_test_2016_flickr") -> MetricScore:
    return MetricScore(testset=testset, direction="eng_Latn-deu_Latn", metric="bleu", value=value,
                       signature="nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0", n_segments=40)


@pytest.fixture(scope="module")
def logged_runs(server: str, tmp_path_factory: pytest.TempPathFactory) -> list:
    """Two runs logged by ``mtforge.tracking.log_pipeline_run`` with distinct BLEU scores."""
    report = tmp_path_factory.mktemp("ui-report") / "report.md"
    report.write_text("# report\n", encoding="utf-8")
    values = [(12.3456, 0.25), (7.891, 0.0001234)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", server)
        mp.delenv("MTFORGE_ARTIFACT_ROOT", raising=False)
        run_ids = [log_pipeline_run(experiment="ui-logged", run_name=f"run-{i}", params={"seed": i},
                                    stage_metrics={"clean": {"kept": 190.0}}, step_metrics={},
                                    scores=[_bleu(flickr), _bleu(other, testset="flores200_devtest")],
                                    artifacts={"report": str(report)})
                   for i, (flickr, other) in enumerate(values, 1)]
    client = MlflowClient(tracking_uri=server)
    return [client.get_run(run_id) for run_id in run_ids]


@pytest.fixture(scope="module")
def pipeline_runs(server: str, multi30k_root: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Two real ``baseline`` pipeline runs (tiny config, fast overrides, seeds 1 and 2) on the server."""
    import pipelines
    from pipelines.runner import pipeline_inputs, resolve_params, run_pipeline

    inputs = pipeline_inputs(pipelines.load("baseline"))
    overrides = [f"data={multi30k_root / 'multi30k'}", *FAST]
    # The test set is the small multi30k test split; no model registration; one training process.
    optional = {"testsets_root": str(multi30k_root), "register_as": "", "nproc": "1"}
    overrides += [f"{key}={value}" for key, value in optional.items() if key in inputs]
    home = tmp_path_factory.mktemp("ui-mtforge-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MTFORGE_HOME", str(home))
        mp.setenv("MLFLOW_TRACKING_URI", server)
        mp.delenv("MTFORGE_ARTIFACT_ROOT", raising=False)
        reports = [run_pipeline("baseline", resolve_params("baseline", "tiny", [*overrides, f"seed={seed}"]),
                                home, echo=lambda line: None)
                   for seed in (1, 2)]
    client = MlflowClient(tracking_uri=server)
    return SimpleNamespace(runs=[client.get_run(report.output) for report in reports],
                           retrained="train" in reports[1].executed)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    base = os.environ.get("MTFORGE_TEST_ARTIFACTS")
    folder = Path(base) / "mlflow-ui" if base else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# The comparison view's metrics table is two react-virtualized grids side by side: the keys and
# one column per run (the scrollable one). Only the rows in view are rendered, and a row's cells
# share its `top` offset. The key grid is synced on the values grid's *next* scroll event (it is
# given the values grid's scroll position from before that event), hence the 1 px nudge below.
_TABLE_JS = """
([action, arg]) => {
  const grids = [...document.querySelectorAll('.ReactVirtualized__Grid')];
  const keys = grids.find(g => g.querySelector('a[title="Plot chart"]'));
  if (!keys) return {state: 'loading'};
  const values = grids[grids.indexOf(keys) + 1];
  const end = values.scrollHeight - values.clientHeight;
  if (action === 'scroll') {
    values.scrollTop = Math.max(0, Math.min(arg, end));
    return {state: 'scrolled', top: values.scrollTop, end};
  }
  const link = [...keys.querySelectorAll('a[title="Plot chart"]')].find(a => a.textContent.trim() === arg);
  if (!link || Math.abs(keys.scrollTop - values.scrollTop) > 1) return {state: 'absent', end: values.scrollTop >= end};
  const top = link.parentElement.style.top;
  const cells = [...values.querySelectorAll('.ReactVirtualized__Grid__innerScrollContainer > div')]
    .filter(cell => cell.style.top === top)
    .sort((a, b) => parseFloat(a.style.left) - parseFloat(b.style.left))
    .map(cell => cell.innerText.trim());
  return {state: 'found', cells, row: parseFloat(top), height: link.parentElement.offsetHeight};
}
"""


def _scroll_metrics(page, top: float) -> None:
    """Scroll the metrics table to ``top`` px, keys and values alike."""
    done = page.evaluate(_TABLE_JS, ["scroll", top])
    page.wait_for_timeout(150)
    nudge = done["top"] + 1 if done["top"] < done["end"] else done["top"] - 1
    page.evaluate(_TABLE_JS, ["scroll", nudge])
    page.wait_for_timeout(150)


def _metric_row(page, key: str) -> list[str]:
    """The texts of ``key``'s row in the comparison view's metrics table, one per run; the
    table is left scrolled to that row."""
    page.locator('button[aria-label="Metrics - Show diff only"]').scroll_into_view_if_needed()
    position = 0.0
    for _ in range(500):
        _scroll_metrics(page, position)
        table = page.evaluate(_TABLE_JS, ["find", key])
        if table["state"] == "found":
            if table["cells"]:
                _scroll_metrics(page, table["row"] - table["height"])
                return table["cells"]
            position = table["row"]
        elif table["state"] == "absent":
            if table["end"]:
                break
            position += 135
    raise AssertionError(f"metric {key!r} is not in the comparison view's metrics table")


def _check_comparison_view(server: str, runs: list, screenshot: Path) -> None:
    """Open the UI's run-comparison view of ``runs`` and assert that every ``bleu.*`` metric of
    theirs is listed with each run's value as MLflow holds it; save a screenshot."""
    from playwright.sync_api import sync_playwright

    keys = sorted({key for run in runs for key in run.data.metrics if key.startswith(METRIC_PREFIX)})
    assert keys, f"no {METRIC_PREFIX}* metrics in the runs: {sorted(runs[0].data.metrics)}"
    for run in runs:
        assert set(keys) <= set(run.data.metrics), f"run {run.info.run_id} lacks some of {keys}"
    run_ids = [run.info.run_id for run in runs]
    experiments = sorted({run.info.experiment_id for run in runs})
    url = f"{server}/#/compare-runs?runs={json.dumps(run_ids)}&experiments={json.dumps(experiments)}"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(url)
            page.get_by_text(f"Comparing {len(runs)} Runs", exact=False).wait_for(timeout=60_000)
            for run_id in run_ids:
                page.get_by_text(run_id, exact=True).first.wait_for(timeout=30_000)
            page.locator('a[title="Plot chart"]').first.wait_for(timeout=30_000)
            close_assistant = page.locator('button[data-component-id="mlflow.assistant.chat_panel.close"]')
            if close_assistant.count():  # a side panel that would take a third of the screenshot
                close_assistant.first.click()
            for key in keys:
                shown = _metric_row(page, key)
                held = [run.data.metrics[key] for run in runs]
                assert shown == [format_metric(value) for value in held], (
                    f"{key}: the UI shows {shown}, MLflow holds {held}")
                assert page.locator('a[title="Plot chart"]', has_text=key).first.is_visible()
            for section in ("Visualizations", "Parameters"):  # collapsed: run details and metrics in one view
                page.get_by_text(section, exact=True).first.click()
            _metric_row(page, keys[0])
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()


def test_the_comparison_view_shows_each_runs_bleu(server: str, logged_runs: list, screenshots: Path) -> None:
    assert {run.data.metrics["bleu.eng_Latn-deu_Latn.multi30k_test_2016_flickr"] for run in logged_runs} == {
        12.3456, 7.891}
    shot = screenshots / "compare-runs.png"
    _check_comparison_view(server, logged_runs, shot)
    shutil.copyfile(shot, LATEST_SCREENSHOT)
    print(f"comparison view screenshot: {shot} (copy: {LATEST_SCREENSHOT})")


def test_the_comparison_view_shows_two_baseline_pipeline_runs(
        server: str, pipeline_runs: SimpleNamespace, screenshots: Path) -> None:
    assert pipeline_runs.retrained, "the seed=2 run did not re-train (it was served from the cache)"
    shot = screenshots / "compare-pipeline-runs.png"
    _check_comparison_view(server, pipeline_runs.runs, shot)
    shutil.copyfile(shot, LATEST_PIPELINE_SCREENSHOT)
    print(f"comparison view screenshot: {shot} (copy: {LATEST_PIPELINE_SCREENSHOT})")
