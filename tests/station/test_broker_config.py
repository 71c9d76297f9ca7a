"""The [broker] section of the station configuration: checked when the file is read, each problem named
with the file, the section and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.station.broker import broker_from_url, parse_broker, station_id
from app.station.config import StationConfigError, load_station_config
from app.station.publish import broker_settings_for


def write(tmp_path: Path, broker: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(f'[station]\nname = "Pod A"\n\n[broker]\n{broker}\n\n[[chairs]]\nname = "Chair 1"\n')
    return path


def test_a_tls_broker_with_its_files(tmp_path: Path) -> None:
    from tests.floor.support import make_ca_and_server_cert

    make_ca_and_server_cert(tmp_path)  # a real CA certificate: a file that is not one is refused
    (tmp_path / "secret").write_text("s3cret\nignored\n")
    config = load_station_config(
        write(
            tmp_path,
            'url = "mqtts://floor.example:8884"\nusername = "pod-a"\npassword_file = "secret"\n'
            'ca_file = "ca.pem"\nkeepalive_s = 10',
        )
    )
    settings = broker_settings_for(config)
    assert settings is not None
    assert (settings.host, settings.port, settings.tls, settings.keepalive_s) == (
        "floor.example",
        8884,
        True,
        10.0,
    )
    assert settings.ca_file == tmp_path / "ca.pem"
    assert settings.password() == "s3cret"
    # --broker URL replaces the url and keeps the file's other settings
    other = broker_settings_for(config, "mqtts://other.example")
    assert other is not None and (other.host, other.port, other.username) == ("other.example", 8883, "pod-a")


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('url = "mqtt://10.1.2.3"', "url", "not encrypted"),
        ('url = "mqtt://floor.example"', "url", "allow_plaintext"),
        ('url = "http://floor.example"', "url", "mqtts://"),
        ('url = "mqtts://floor.example/chairside"', "url", "topics are fixed"),
        ('url = "mqtts://floor.example"\nkeepalive_s = 11', "keepalive_s", "1 to 10 seconds"),
        ('url = "mqtts://floor.example"\nkeepalive_s = true', "keepalive_s", "number of seconds"),
        ('url = "mqtts://floor.example"\npassword_file = "nope"', "password_file", "no such file"),
        ('url = "mqtt://127.0.0.1"\nca_file = "station.toml"', "ca_file", "use mqtts://"),
        ('url = "mqtts://floor.example"\ntopic_prefix = "mine"', "topic_prefix", "fixed"),
        ('url = "mqtts://floor.example"\nusrname = "x"', "usrname", "unknown key"),
        ('username = "pod-a"', "url", "missing"),
        ('url = "mqtts://floor.example"\nallow_plaintext = "yes"', "allow_plaintext", "true or false"),
    ],
)
def test_a_broker_the_station_cannot_use_is_named(tmp_path: Path, table: str, key: str, words: str) -> None:
    path = write(tmp_path, table)
    with pytest.raises(StationConfigError) as error:
        load_station_config(path)
    assert error.value.section == "broker" and error.value.key == key
    assert str(error.value).startswith(f"{path}: [broker]: {key}: ")
    assert words in str(error.value)


def test_plain_mqtt_on_loopback_or_when_allowed() -> None:
    assert not parse_broker({"url": "mqtt://localhost"}).tls
    assert parse_broker({"url": "mqtt://[::1]:1884"}).port == 1884
    assert parse_broker({"url": "mqtt://10.1.2.3", "allow_plaintext": True}).host == "10.1.2.3"
    assert broker_from_url("mqtt://127.0.0.1:1883").loopback


def test_no_broker_is_the_default(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text('[station]\nname = "Pod A"\n\n[[chairs]]\nname = "Chair 1"\n')
    assert broker_settings_for(load_station_config(path)) is None


def test_station_topic_levels() -> None:
    assert station_id("Pod A") == "pod-a"
    assert station_id("  Infusion / Pod #2 ") == "infusion-pod-2"
    with pytest.raises(ValueError, match="no letters or digits"):
        station_id("///")
