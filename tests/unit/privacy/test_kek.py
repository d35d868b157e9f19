"""The key-encryption key file: private, the right size, made once, never shown."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest

from supportes.errors import ConfigError
from supportes.privacy.cipher import new_data_key
from supportes.privacy.kek import (
    KEK_BYTES,
    FileKeyWrapper,
    KeyUnwrapError,
    create_kek_file,
    read_kek_file,
)
from supportes.settings import Settings


def _kek(tmp_path: Path, name: str = "kek") -> Path:
    path = tmp_path / name
    assert create_kek_file(path)
    return path


def test_create_makes_a_private_file_of_32_bytes_base64(tmp_path: Path) -> None:
    path = _kek(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="ascii")
    assert text.endswith("\n")
    assert len(base64.b64decode(text.strip(), validate=True)) == KEK_BYTES
    assert [p.name for p in tmp_path.iterdir()] == ["kek"]  # no partial file left


def test_create_leaves_an_existing_file_alone(tmp_path: Path) -> None:
    path = _kek(tmp_path)
    before = path.read_bytes()
    assert create_kek_file(path) is False
    assert path.read_bytes() == before


def test_create_makes_a_private_parent(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "kek"
    assert create_kek_file(path)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_racing_creators_end_with_one_kek(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(create_kek_file(path))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["kek"]
    read_kek_file(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o660])
def test_a_file_others_may_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = _kek(tmp_path)
    path.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        FileKeyWrapper(path)
    message = str(caught.value)
    assert str(path) in message
    assert "group or others" in message
    assert "chmod 600" in message
    assert "SUPPORTES_KEK_FILE" in message


def test_a_read_only_private_file_is_accepted(tmp_path: Path) -> None:
    path = _kek(tmp_path)
    path.chmod(0o400)
    assert FileKeyWrapper(path).kek_id


@pytest.mark.parametrize(
    "content",
    [
        base64.b64encode(os.urandom(16)) + b"\n",  # AES-128: too short
        base64.b64encode(os.urandom(33)) + b"\n",
        os.urandom(32),  # raw bytes, not base64
        b"not base64 at all!\n",
        b"",
        b"A" * 5000,
    ],
)
def test_a_kek_of_the_wrong_length_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "kek"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    with pytest.raises(ConfigError, match=r"must hold 32 bytes, base64") as caught:
        FileKeyWrapper(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "kek"
    with pytest.raises(ConfigError, match="does not exist") as caught:
        FileKeyWrapper(path)
    assert str(path) in str(caught.value)
    assert "SUPPORTES_KEK_FILE" in str(caught.value)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    path.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="not a regular file"):
        FileKeyWrapper(path)


def test_wrap_then_unwrap_gives_the_data_key(tmp_path: Path) -> None:
    wrapper = FileKeyWrapper(_kek(tmp_path))
    data_key = new_data_key()
    wrapped = wrapper.wrap(data_key)
    assert wrapped != data_key
    assert data_key not in wrapped
    assert wrapper.unwrap(wrapped) == data_key
    assert FileKeyWrapper(wrapper.path).unwrap(wrapped) == data_key  # the same file, reread


def test_another_kek_cannot_unwrap_and_the_error_names_the_setting(tmp_path: Path) -> None:
    wrapped = FileKeyWrapper(_kek(tmp_path, "one")).wrap(new_data_key())
    other = FileKeyWrapper(_kek(tmp_path, "two"))
    with pytest.raises(KeyUnwrapError) as caught:
        other.unwrap(wrapped)
    assert "SUPPORTES_KEK_FILE" in str(caught.value)
    assert str(other.path) in str(caught.value)
    with pytest.raises(KeyUnwrapError):
        other.unwrap(b"short")
    assert isinstance(caught.value, ConfigError)


def test_kek_id_is_stable_short_and_not_the_key(tmp_path: Path) -> None:
    path = _kek(tmp_path)
    kek = read_kek_file(path)
    first, again = FileKeyWrapper(path), FileKeyWrapper(path)
    assert first.kek_id == again.kek_id
    assert first.kek_id.startswith("kek-")
    assert len(first.kek_id) == 20
    for form in (kek.hex(), base64.b64encode(kek).decode(), kek.decode("latin-1")):
        assert form not in first.kek_id
        assert first.kek_id.removeprefix("kek-") not in form
    assert FileKeyWrapper(_kek(tmp_path, "other")).kek_id != first.kek_id


def test_the_wrapper_never_shows_the_kek(tmp_path: Path) -> None:
    path = _kek(tmp_path)
    wrapper = FileKeyWrapper(path)
    kek = read_kek_file(path)
    shown = repr(wrapper) + str(wrapper)
    assert base64.b64encode(kek).decode() not in shown
    assert kek.hex() not in shown
    assert wrapper.kek_id in shown


def test_the_kek_path_defaults_to_the_secrets_directory(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.kek_path == tmp_path.resolve() / "secrets" / "kek"
    assert settings.kek_path.parent == settings.pg_passfile.parent
    configured = Settings(home=tmp_path, kek_file=tmp_path / "elsewhere")
    assert configured.kek_path == tmp_path / "elsewhere"
    assert FileKeyWrapper.from_settings(Settings(kek_file=_kek(tmp_path))).kek_id


def test_the_kek_file_setting_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTES_KEK_FILE", str(tmp_path / "k"))
    assert Settings().kek_path == tmp_path / "k"
