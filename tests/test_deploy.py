"""The Dockerfile and compose.yaml parse, and set only variables recbot reads and the contract names.
(No container engine runs here: these are checked as files, not run.)"""

import re
from pathlib import Path

import yaml

from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments), with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def read_by_recbot() -> set[str]:
    config = (ROOT / "bot" / "config.py").read_text()
    return set(re.findall(r'"((?:SLACK|REC|DYTE|RTK)_[A-Z_]+|HOST|PORT)"', config))


def test_the_dockerfile_is_small_not_root_and_serves_with_a_health_check():
    steps = dockerfile()
    known = {"FROM", "WORKDIR", "COPY", "RUN", "USER", "ENV", "EXPOSE", "HEALTHCHECK", "CMD"}
    assert {i for i, _ in steps} <= known
    assert [a for i, a in steps if i == "FROM"][-1] == "python:3.12-slim"  # the image that ships: slim
    user = [a for i, a in steps if i == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert [a for i, a in steps if i == "CMD"][-1] == '["recbot", "serve"]'
    assert "/healthz" in next(a for i, a in steps if i == "HEALTHCHECK")
    env = " ".join(a for i, a in steps if i == "ENV")
    assert set(re.findall(r"([A-Z_]+)=", env)) - {"PYTHONUNBUFFERED"} <= read_by_recbot()


def test_compose_has_recbot_postgres_and_a_tls_proxy_and_sets_only_known_variables():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"recbot", "postgres", "proxy"}
    recbot = services["recbot"]
    assert recbot["build"] == "." and recbot["environment"]["REC_DATABASE"].startswith("postgresql://")
    assert recbot["deploy"]["replicas"] == 2
    assert set(recbot["environment"]) <= read_by_recbot()
    assert "caddy" in services["proxy"]["image"] and "443:443" in services["proxy"]["ports"]
    assert services["postgres"]["image"].startswith("postgres:")
    contract = SHARED / "CONTRACT.md"
    if contract.exists():  # beside the project, not in it: checked when it is there
        named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", contract.read_text()))
        assert set(recbot["environment"]) <= named, set(recbot["environment"]) - named
