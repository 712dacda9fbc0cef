"""The zoo's results and the shipped checkpoints' integrity: manifest, cards, eval --all, README table."""
from __future__ import annotations

import shutil

import pytest
import torch

from genlab import registry, results
from genlab.checkpoint import load_checkpoint
from genlab.cli import main
from genlab.errors import CheckpointError
from genlab.manifest import MANIFEST_NAME, problems, read_manifest, record, sha256_of
from genlab.paths import CHECKPOINT_DIR

SMALL = "row_lstm-mnist"  # the smallest shipped file (70 KB)
CHEAP = ["dcgan-mnist", "aae-mnist"]  # quick to score at tiny n (aae has its own figures)


def _shipped(name: str):
    path = CHECKPOINT_DIR / f"{name}.pt"
    if not path.exists():
        pytest.skip(f"shipped checkpoint {path} is missing")
    return path


@pytest.fixture
def shipped_copy(tmp_path):
    """A copy of one shipped checkpoint with the real manifest beside it."""
    src = _shipped(SMALL)
    shutil.copy(src, tmp_path / src.name)
    shutil.copy(CHECKPOINT_DIR / MANIFEST_NAME, tmp_path / MANIFEST_NAME)
    return tmp_path / src.name


def test_manifest_matches_the_shipped_files():
    assert problems() == [], "run `python -m genlab manifest` after changing checkpoints/ on purpose"
    assert set(read_manifest()) == {p.name for p in registry.shipped_checkpoints().values()}


def test_tampered_copy_of_a_shipped_checkpoint_is_refused_naming_it(shipped_copy):
    assert load_checkpoint(shipped_copy)["family"] == "row_lstm"  # the untouched copy matches the manifest
    state = torch.load(shipped_copy, weights_only=True)
    key = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][key] = state["model"][key] + 1  # still a valid checkpoint: only the hash can tell
    torch.save(state, shipped_copy)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(shipped_copy)
    message = str(err.value)
    assert str(shipped_copy) in message and MANIFEST_NAME in message and "git checkout" in message


def test_unlisted_file_in_a_shipped_folder_is_refused_and_runs_load_as_before(shipped_copy, tmp_path):
    stray = shipped_copy.with_name("stray.pt")
    shutil.copy(shipped_copy, stray)
    with pytest.raises(CheckpointError, match="stray.pt is not listed"):
        load_checkpoint(stray)
    record(stray)  # what release does when it writes a checkpoint
    assert load_checkpoint(stray)["step"] > 0
    run = tmp_path / "runs" / "mine"
    run.mkdir(parents=True)
    shutil.copy(shipped_copy, run / "latest.pt")
    torch.save({**torch.load(run / "latest.pt", weights_only=True), "step": 7}, run / "latest.pt")
    assert load_checkpoint(run / "latest.pt")["step"] == 7  # no manifest there: not checked


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """eval --all on two cheap checkpoints at tiny n (each a real `python -m genlab eval` process)."""
    csv = tmp_path_factory.mktemp("results") / "results.csv"
    assert main(["eval", "--all", "--only", ",".join(CHEAP), "--n", "20", "--threads", "1",
                 "--results", str(csv)]) == 0
    return csv


def test_eval_all_writes_rows_with_command_and_wall_time(scored):
    rows = results.read_rows(scored)
    assert sorted(rows) == sorted(CHEAP)
    for name, row in rows.items():
        assert row["command"] == (f"OMP_NUM_THREADS=1 python -m genlab eval {name} --n 20 --seed 0 --iwae-k 1000 "
                                  f"--out results/{name}.eval.json")
        assert float(row["wall_seconds"]) > 0 and row["cpu"] and row["threads"] == "1"
        assert row["sha256"] == sha256_of(CHECKPOINT_DIR / f"{name}.pt")
        figures = results.figures_of(row)
        assert figures["fid"] > 0 and figures["fid_floor"] > 0
    assert "aae_prior_mmd2" in results.figures_of(rows["aae-mnist"])  # the family's own figures
    md = scored.with_name("RESULTS.md").read_text()
    assert results.cpu_model() in md and "1 thread(s)" in md and "n=20, seed 0" in md
    for name in CHEAP:
        assert f"`{rows[name]['command']}`" in md
    assert "### aae-mnist (aae)" in md


def test_eval_all_skips_rows_that_are_up_to_date(scored, monkeypatch):
    cheap = {name: CHECKPOINT_DIR / f"{name}.pt" for name in CHEAP}
    monkeypatch.setattr(registry, "shipped_checkpoints", lambda: cheap)
    before = scored.read_text()
    said = []
    assert results.evaluate_all(n=20, results=scored, log=said.append) == []
    assert scored.read_text() == before  # nothing re-run
    assert any("skipped" in line and "dcgan-mnist" in line for line in said)


def test_readme_table_is_rendered_from_results_csv(scored, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{results.TABLE_START}\n| typed | by hand |\n{results.TABLE_END}\n\nmore\n")
    results.write_readme_table(scored, readme)
    first = readme.read_text()
    table = "\n".join(results.readme_table(results.read_rows(scored)))
    assert first == f"intro\n\n{results.TABLE_START}\n{table}\n{results.TABLE_END}\n\nmore\n"
    assert "typed" not in first and "| dcgan-mnist | dcgan | mnist |" in first
    assert "not scored yet: `python -m genlab eval --all --only vae-mnist`" in first  # not in this CSV
    results.write_readme_table(scored, readme)
    assert readme.read_text() == first  # re-rendering changes nothing


def test_committed_readme_table_matches_results_csv():
    if not results.RESULTS_CSV.is_file():
        pytest.skip("no results.csv yet: `python -m genlab eval --all` then `python -m genlab results --readme`")
    text = results.README.read_text()
    block = text[text.index(results.TABLE_START) + len(results.TABLE_START):text.index(results.TABLE_END)]
    assert block.strip() == "\n".join(results.readme_table(results.read_rows(results.RESULTS_CSV)))


def test_card_names_the_file_recipe_command_and_measured_figures(scored):
    path = _shipped("aae-mnist")
    row = results.read_rows(scored)["aae-mnist"]
    card = results.card_text(path, row)
    assert sha256_of(path) in card and "[docs/models/aae.md]" in card and "arXiv" in card
    assert load_checkpoint(path)["recipe"].strip() in card
    assert "python -m genlab.release runs/aae-mnist/latest.pt --name aae-mnist" in card
    assert row["command"] in card and "aae_prior_mmd2" in card
    stale = results.card_text(path, {**row, "sha256": "0" * 64})  # a row of another file: figures at release
    assert "Stored in the checkpoint when it was released" in stale


def test_eval_without_checkpoint_or_all_is_one_line(capsys):
    assert main(["eval"]) == 2
    assert "eval needs a CHECKPOINT, or --all" in capsys.readouterr().err


def test_release_records_the_manifest_and_writes_the_card(shipped_copy, tmp_path, monkeypatch):
    from genlab import release

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(release, "CHECKPOINT_DIR", shipped)
    run = tmp_path / "runs" / "mine" / "latest.pt"  # a run's checkpoint (a copy of a shipped one will do)
    run.parent.mkdir(parents=True)
    shutil.copy(shipped_copy, run)
    out, _ = release.release(run, "mine", evaluate=False)
    assert read_manifest(shipped)["mine.pt"]["sha256"] == sha256_of(out)
    assert load_checkpoint(out)["family"] == "row_lstm"
    assert sha256_of(out) in out.with_suffix(".md").read_text()


def test_headline_gives_translation_3d_and_equivariance_rows_their_own_figure():
    assert results.headline({"cyclegan_l1": 0.0438, "cyclegan_identity_l1": 0.6425, "cyclegan_class_kept": 0.9775}) \
        == "L1 0.044 (identity 0.642), class kept 97.8%"
    assert results.headline({"graf_fid": 107.45, "graf_fid_floor": 11.04}) == "FID 107.5 (floor 11.0) in shapes3d features"
    assert results.headline({"alias_free_eqt_int_db": 98.6, "alias_free_eqt_frac_db": 46.7, "alias_free_eqr_db": 10.8}) \
        == "EQ-T 98.6 / 46.7 dB (integer / sub-pixel), EQ-R 10.8 dB"
    assert results.headline({"fid": 12.0}) == ""
