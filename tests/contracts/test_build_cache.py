"""The contract freshness checks reuse compiled scripts by source and compiler, and a stale
artifact still fails them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cardano_market.contracts import SOURCES_DIR, artifact_path
from cardano_market.contracts import build as build_module
from cardano_market.contracts.build import build, compile_key


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the datum_echo source and its artifacts, which `build` reads and writes."""
    sources, artifacts = tmp_path / "onchain", tmp_path / "artifacts"
    sources.mkdir()
    artifacts.mkdir()
    shutil.copy(SOURCES_DIR / "datum_echo.py", sources)
    for traced in (False, True):
        shutil.copy(artifact_path("datum_echo", traced=traced), artifacts)
    monkeypatch.setattr(build_module, "SOURCES_DIR", sources)
    monkeypatch.setattr(
        build_module,
        "artifact_path",
        lambda name, *, traced=False: artifacts / artifact_path(name, traced=traced).name,
    )
    return tmp_path


def test_a_cached_check_still_fails_a_stale_artifact(
    sandbox: Path, tmp_path: Path, contract_cache: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = contract_cache or tmp_path / "cache"
    assert build(["datum_echo"], check=True, cache_dir=cache) == []  # fills the cache

    def no_compiler(path: Path, *, traced: bool = False) -> bytes:
        raise AssertionError(f"{path.name} was compiled although its build is cached")

    monkeypatch.setattr(build_module, "compile_source", no_compiler)
    assert build(["datum_echo"], check=True, cache_dir=cache) == []
    artifact = sandbox / "artifacts" / "datum_echo.plutus"
    text = artifact.read_text()
    flipped = "0" if text[text.index('"cborHex": "') + 20] != "0" else "1"
    at = text.index('"cborHex": "') + 20
    artifact.write_text(text[:at] + flipped + text[at + 1 :])
    assert build(["datum_echo"], check=True, cache_dir=cache) == ["datum_echo.plutus"]
    artifact.unlink()
    assert build(["datum_echo"], check=True, cache_dir=cache) == ["datum_echo.plutus"]


def test_the_cache_key_covers_source_flags_and_compiler(
    sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = sandbox / "onchain" / "datum_echo.py"
    plain, traced = compile_key(source), compile_key(source, traced=True)
    assert plain != traced
    source.write_text(source.read_text() + "\n# one more line\n")
    assert compile_key(source) != plain
    real_version = build_module.metadata.version

    def other_opshin(tool: str) -> str:
        return "0.0.0" if tool == "opshin" else real_version(tool)

    source.write_text((SOURCES_DIR / "datum_echo.py").read_text())
    assert compile_key(source) == plain
    monkeypatch.setattr(build_module.metadata, "version", other_opshin)
    assert compile_key(source) != plain


def test_every_key_covers_the_hand_written_terms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every build runs OpShin through pluthon_terms, even a validator that calls no term: an
    edit there must not leave any cached build standing."""
    names = ("datum_echo", "sale", "queue")
    before = {n: compile_key(SOURCES_DIR / f"{n}.py") for n in names}
    edited = tmp_path / "pluthon_terms.py"
    edited.write_text(build_module.HAND_WRITTEN_SOURCE.read_text() + "\n# one more line\n")
    monkeypatch.setattr(build_module, "HAND_WRITTEN_SOURCE", edited)
    assert all(compile_key(SOURCES_DIR / f"{n}.py") != before[n] for n in names)


def test_the_deployed_keys_cover_the_hoisting_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployed build goes through hoist_builtins after OpShin: an edit there must not leave
    a deployed build cached. The traced build does not run it, so its keys stay."""
    names = ("datum_echo", "sale", "queue")
    deployed = {n: compile_key(SOURCES_DIR / f"{n}.py") for n in names}
    traced = {n: compile_key(SOURCES_DIR / f"{n}.py", traced=True) for n in names}
    edited = tmp_path / "hoist_builtins.py"
    edited.write_text(build_module.HOIST_SOURCE.read_text() + "\n# one more line\n")
    monkeypatch.setattr(build_module, "HOIST_SOURCE", edited)
    assert all(compile_key(SOURCES_DIR / f"{n}.py") != deployed[n] for n in names)
    assert all(compile_key(SOURCES_DIR / f"{n}.py", traced=True) == traced[n] for n in names)


def test_a_term_may_not_replace_one_of_pluthons_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpShin resolves its builtin wrappers (e.g. `serialise_data`) by the same lookup."""
    from cardano_market.contracts import pluthon_terms

    monkeypatch.setitem(pluthon_terms.TERMS, "SerialiseData", pluthon_terms.ValueIs)
    with pytest.raises(RuntimeError, match="pluthon already defines SerialiseData"):
        pluthon_terms.register()


def test_prune_keeps_only_the_builds_of_todays_sources(
    sandbox: Path, tmp_path: Path, contract_cache: Path | None
) -> None:
    """`--prune` is how tests/contracts/compiled is refreshed after a validator changes: the
    builds of older sources go, today's stay (and no other validator's are touched)."""
    cache = tmp_path / "refresh"
    cache.mkdir()
    if contract_cache is not None:  # today's builds, so that nothing compiles here
        for entry in contract_cache.glob("datum_echo-*.hex"):
            shutil.copy(entry, cache)
    old = cache / f"datum_echo-{'0' * 64}.hex"
    old.write_text("00")
    other = cache / f"queue-{'0' * 64}.hex"
    other.write_text("00")
    assert build(["datum_echo"], check=True, cache_dir=cache, prune=True) == []
    source = sandbox / "onchain" / "datum_echo.py"
    kept = sorted(entry.name for entry in cache.glob("datum_echo-*.hex"))
    assert kept == sorted(
        f"datum_echo-{compile_key(source, traced=traced)}.hex" for traced in (False, True)
    )
    assert other.exists() and not old.exists()


def test_the_compiler_runs_with_a_fixed_hash_seed(
    sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpShin's output depends on Python's hash seed: two cold builds of the deployed queue with
    random seeds differed. The compiler now runs with a fixed seed, and the seed is part of the
    cache key (builds made without it are not reused)."""
    seen: dict[str, str] = {}

    def capture(command: list[str], **options: object) -> object:
        env = options.get("env")
        assert isinstance(env, dict)
        seen.update(env)
        raise RuntimeError("captured")

    monkeypatch.setenv("PYTHONHASHSEED", "random")
    monkeypatch.setattr(build_module.subprocess, "run", capture)
    source = sandbox / "onchain" / "datum_echo.py"
    with pytest.raises(RuntimeError, match="captured"):
        build_module.compile_source(source)
    assert seen["PYTHONHASHSEED"] == "0"
    key = compile_key(source)
    monkeypatch.setattr(build_module, "COMPILER_ENVIRONMENT", {"PYTHONHASHSEED": "1"})
    assert compile_key(source) != key
