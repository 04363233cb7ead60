"""The registries file: every refusal is one line naming the registry and the key; pure code, tmp files only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.domain.registries import (
    Registries,
    Registry,
    RegistryError,
    check_name,
    load_registries,
    load_user_maps,
    parse_registries,
)

PROD = "https://rok.prod.example.com/registry"
STAGING = "https://rok.staging.example.com/registry"


def write(tmp_path: Path, document: object, name: str = "registries.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def kubeconfig(tmp_path: Path, *contexts: str, current: str | None = None, name: str = "config") -> Path:
    """A kubeconfig naming these contexts (never contacted: only the names are read)."""
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": c, "context": {"cluster": "c", "user": "u"}} for c in contexts],
    }
    if current is not None:
        document["current-context"] = current
    return write(tmp_path, document, name)


def refused(entries: list[Any], *, kube: str | None = None) -> str:
    """The one-line refusal of a registries list."""
    with pytest.raises(RegistryError) as err:
        parse_registries({"registries": entries}, kubeconfig=kube)
    message = str(err.value)
    assert "\n" not in message and len(message) < 300
    return message


def test_the_issue_example_loads_with_its_defaults(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path, "prod", "other")
    path = write(
        tmp_path,
        {
            "registries": [
                {
                    "name": "prod",
                    "title": "Production",
                    "url": PROD,
                    "kubeconfig": str(config),
                    "context": "prod",
                    "namespace": "rok-registry",
                    "service": "rok-registry",
                    "container": "",
                    "ca_bundle": "",
                    "allow_http": False,
                    "max_concurrent_execs": 4,
                    "channels": ["C0PRODOPS"],
                    "user_map": "",
                    "policy": {},
                },
                {"name": "staging", "url": STAGING},
            ]
        },
    )
    registries = load_registries(path)
    prod, staging = registries
    assert registries.names() == ("prod", "staging") and not registries.single and len(registries) == 2
    assert (prod.title, prod.kubeconfig, prod.context, prod.channels) == ("Production", config, "prod", ("C0PRODOPS",))
    assert (prod.container, prod.ca_bundle, prod.user_map, prod.policy.empty) == (None, None, None, True)
    assert staging.title == "staging"  # the name when unset
    assert (staging.namespace, staging.service, staging.max_concurrent_execs) == ("rok-registry", "rok-registry", 4)
    assert (staging.kubeconfig, staging.context, staging.allow_http, staging.channels) == (None, None, False, ())
    assert registries["prod"] is prod and registries.get("Staging") is staging and registries.get("dev") is None
    assert "prod" in registries and "dev" not in registries


def test_the_channel_default_is_the_registry_that_lists_the_channel(tmp_path: Path) -> None:
    registries = parse_registries(
        {
            "registries": [
                {"name": "prod", "url": PROD, "channels": ["C0PRODOPS", "G0PRIVATE"]},
                {"name": "staging", "url": STAGING, "channels": ["C0STAGING"]},
                {"name": "eu-1", "url": STAGING},
            ]
        }
    )
    assert registries.default_for("C0PRODOPS") is registries["prod"]
    assert registries.default_for("G0PRIVATE") is registries["prod"]
    assert registries.default_for("C0STAGING") is registries["staging"]
    assert registries.default_for("C0ELSEWHERE") is None  # never silently the first
    assert registries.default_for(None) is None


def test_a_single_registry_is_the_default_everywhere() -> None:
    registries = parse_registries({"registries": [{"name": "prod", "url": PROD}]})
    assert registries.single and registries.default_for("C0ANY") is registries["prod"]
    assert registries.default_for(None) is registries["prod"]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("24h", "reads as a duration"),
        ("2d", "reads as a duration"),
        ("1h30m", "reads as a duration"),
        ("90", "reads as a duration"),
        ("h", "reads as a unit of time"),
        ("d", "reads as a unit of time"),
        ("-prod", "starts with '-'"),
        ("Prod", "1-20 characters"),
        ("prod_1", "1-20 characters"),
        ("a" * 21, "1-20 characters"),
        ("help", "subcommand"),
        ("list", "subcommand"),
        ("who", "subcommand"),
        ("WHO", "1-20 characters"),
    ],
)
def test_a_name_people_could_not_type_unambiguously_is_refused(name: str, why: str) -> None:
    message = refused([{"name": "ok", "url": PROD}, {"name": name, "url": STAGING}])
    assert message.startswith("registries[1]: name: ") and why in message


@pytest.mark.parametrize("name", ["prod", "eu-1", "2fa", "staging-west", "default", "x", "hq"])
def test_ordinary_names_are_accepted(name: str) -> None:
    check_name(name)


def test_a_missing_name_or_a_name_that_is_not_text_is_refused_by_index() -> None:
    assert refused([{"url": PROD}]) == "registries[0]: name: required but not set"
    assert refused([{"name": 24, "url": PROD}]).startswith("registries[0]: name: ")


def test_duplicate_names_are_refused_naming_both() -> None:
    message = refused(
        [{"name": "prod", "url": PROD}, {"name": "staging", "url": STAGING}, {"name": "prod", "url": STAGING}]
    )
    assert message == "registry prod: name: 'prod' is already the name of registries[0]"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "prod"}, "registry prod: url: required but not set"),
        ({"name": "prod", "url": ""}, "registry prod: url: must be an http(s) URL, got ''"),
        ({"name": "prod", "url": "ftp://rok.example.com"}, "registry prod: url: must be an http(s) URL"),
    ],
)
def test_a_missing_or_non_http_url_is_refused(entry: dict[str, Any], expected: str) -> None:
    assert refused([entry]).startswith(expected)


def test_a_url_never_shows_its_credentials() -> None:
    message = refused([{"name": "prod", "url": "ftp://admin:hunter22@rok.example.com/?token=s3cr3tvalue"}])
    assert "hunter22" not in message and "s3cr3tvalue" not in message


def test_plain_http_beyond_this_machine_needs_allow_http() -> None:
    message = refused([{"name": "prod", "url": "http://rok-registry.rok.svc:8080/"}])
    assert message.startswith("registry prod: url: http://rok-registry.rok.svc:8080/ would send tokens in clear text")
    assert "allow_http: true" in message
    allowed = parse_registries({"registries": [{"name": "prod", "url": "http://rok.svc:8080/", "allow_http": True}]})
    assert allowed["prod"].allow_http
    loopback = parse_registries({"registries": [{"name": "dev", "url": "http://127.0.0.1:8080/"}]})
    assert not loopback["dev"].allow_http


def test_a_missing_kubeconfig_is_refused(tmp_path: Path) -> None:
    message = refused([{"name": "prod", "url": PROD, "kubeconfig": str(tmp_path / "nope")}])
    assert message == f"registry prod: kubeconfig: {tmp_path / 'nope'} is not a readable file"


def test_a_kubeconfig_without_the_context_is_refused_with_those_it_has(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path, "staging", "dev")
    message = refused([{"name": "prod", "url": PROD, "kubeconfig": str(config), "context": "prod"}])
    assert message == f"registry prod: context: {config} has no context 'prod' (it has: dev, staging)"


def test_a_kubeconfig_without_a_context_needs_a_current_one(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path, "prod")
    message = refused([{"name": "prod", "url": PROD, "kubeconfig": str(config)}])
    assert message == f"registry prod: kubeconfig: {config} has no current-context: set context"
    current = kubeconfig(tmp_path, "prod", current="prod", name="current")
    assert parse_registries({"registries": [{"name": "prod", "url": PROD, "kubeconfig": str(current)}]})


def test_a_kubeconfig_that_is_not_one_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_text("just: [unbalanced", encoding="utf-8")
    message = refused([{"name": "prod", "url": PROD, "kubeconfig": str(junk), "context": "prod"}])
    assert message == f"registry prod: kubeconfig: cannot read {junk}: ParserError"
    listed = write(tmp_path, ["a", "list"], "listed")
    message = refused([{"name": "prod", "url": PROD, "kubeconfig": str(listed)}])
    assert message == f"registry prod: kubeconfig: {listed} is not a kubeconfig (a YAML mapping)"


def test_a_context_alone_is_looked_up_in_kubeconfig_variable(tmp_path: Path) -> None:
    first = kubeconfig(tmp_path, "dev", name="first")
    second = kubeconfig(tmp_path, "prod", name="second")
    entry = {"name": "prod", "url": PROD, "context": "prod"}
    merged = f"{first}:{tmp_path / 'absent'}:{second}"
    assert parse_registries({"registries": [entry]}, kubeconfig=merged)["prod"].context == "prod"
    assert refused([entry], kube=str(first)) == f"registry prod: context: {first} has no context 'prod' (it has: dev)"
    assert refused([entry]) == "registry prod: context: needs a kubeconfig: set kubeconfig (or KUBECONFIG)"


def test_a_channel_claimed_by_two_registries_is_refused() -> None:
    message = refused(
        [
            {"name": "prod", "url": PROD, "channels": ["C0OPS"]},
            {"name": "staging", "url": STAGING, "channels": ["C0STAGE", "C0OPS"]},
        ]
    )
    assert message == "registry staging: channels: C0OPS is already the default of registry prod"


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        (["#ops"], "registry prod: channels: '#ops' is not a Slack channel ID"),
        (["C0OPS", "C0OPS"], "registry prod: channels: a channel appears twice"),
        ("C0OPS", "registry prod: channels: Input should be a valid tuple"),
    ],
)
def test_channels_must_be_a_list_of_channel_ids(channels: object, expected: str) -> None:
    assert refused([{"name": "prod", "url": PROD, "channels": channels}]).startswith(expected)


def test_unknown_keys_are_refused_with_the_known_ones() -> None:
    message = refused([{"name": "prod", "url": PROD, "namspace": "rok"}])
    assert message.startswith("registry prod: namspace: unknown key (known: name, title, url, kubeconfig, ")
    assert refused([{"name": "prod", "url": PROD, "policy": {"limits": {"maximum": "1d"}}}]) == (
        "registry prod: policy.limits.maximum: unknown key"
    )


@pytest.mark.parametrize("key", ["allow_guests", "max_concurrent_issues", "colour"])
def test_a_policy_key_a_registry_cannot_override_is_refused(key: str) -> None:
    assert refused([{"name": "prod", "url": PROD, "policy": {key: 1}}]) == f"registry prod: policy.{key}: unknown key"


def test_a_bad_limit_in_an_override_is_refused_naming_the_registry() -> None:
    message = refused(
        [{"name": "ok", "url": STAGING}, {"name": "prod", "url": PROD, "policy": {"limits": {"max": "forever"}}}]
    )
    assert message.startswith("registry prod: policy.limits.max: ") and "is not a duration" in message
    message = refused([{"name": "prod", "url": PROD, "policy": {"allow": {"users": ["jdoe"]}}}])
    assert message.startswith("registry prod: policy.allow.users.0: ")
    message = refused([{"name": "prod", "url": PROD, "policy": {"limits": None}}])
    assert message.startswith("registry prod: policy.limits: ")


def test_missing_files_for_ca_bundle_and_user_map_are_refused(tmp_path: Path) -> None:
    absent = tmp_path / "absent.pem"
    for key in ("ca_bundle", "user_map"):
        message = refused([{"name": "prod", "url": PROD, key: str(absent)}])
        assert message == f"registry prod: {key}: {absent} is not a readable file"
    present = write(tmp_path, {"jdoe": "U0123"}, "users.yaml")
    registry = parse_registries({"registries": [{"name": "prod", "url": PROD, "user_map": str(present)}]})["prod"]
    assert registry.user_map == present


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("max_concurrent_execs", 0, "registry prod: max_concurrent_execs: Input should be greater than or equal to 1"),
        ("max_concurrent_execs", 65, "registry prod: max_concurrent_execs: Input should be less than or equal to 64"),
        ("namespace", "Rok_Registry", "registry prod: namespace: must be a Kubernetes name (DNS label)"),
        ("service", "", "registry prod: service: must be a Kubernetes name (DNS label)"),
        ("allow_http", "maybe", "registry prod: allow_http: Input should be a valid boolean"),
    ],
)
def test_bounds_and_shapes_of_the_other_keys(key: str, value: object, expected: str) -> None:
    assert refused([{"name": "prod", "url": PROD, key: value}]).startswith(expected)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (None, "the file must be a YAML mapping with one key, registries"),
        ([{"name": "prod"}], "the file must be a YAML mapping with one key, registries"),
        ({"registries": [], "extra": 1}, "the file must be a YAML mapping with one key, registries"),
        ({"registries": []}, "registries: must be a list of one or more registries"),
        ({"registries": {"prod": {}}}, "registries: must be a list of one or more registries"),
        ({"registries": ["prod"]}, "registries[0]: must be a mapping with at least name and url"),
    ],
)
def test_the_file_shape(document: object, expected: str) -> None:
    with pytest.raises(RegistryError, match="^" + expected.replace("[", r"\[").replace("]", r"\]")):
        parse_registries(document)


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as err:
        load_registries(tmp_path / "absent.yaml")
    assert str(err.value) == f"cannot read {tmp_path / 'absent.yaml'}: FileNotFoundError"


def test_the_catalogue_refuses_what_the_loader_refuses() -> None:
    prod = Registry(name="prod", url=PROD, channels=("C0OPS",))
    with pytest.raises(RegistryError):
        Registries(())
    with pytest.raises(RegistryError):
        Registries((prod, prod))
    with pytest.raises(RegistryError):
        Registries((prod, Registry(name="staging", url=STAGING, channels=("C0OPS",))))


def test_each_registry_user_map_is_read_at_start_and_errors_name_the_registry(tmp_path: Path) -> None:
    good = write(tmp_path, {"U0ALICE": "alice"}, "good.yaml")
    bad = write(tmp_path, {"alice": "alice"}, "bad.yaml")
    entries: list[dict[str, Any]] = [
        {"name": "prod", "url": PROD, "user_map": str(good)},
        {"name": "staging", "url": STAGING},
    ]
    assert load_user_maps(parse_registries({"registries": entries})) == {"prod": {"U0ALICE": "alice"}}
    entries[1]["user_map"] = str(bad)
    with pytest.raises(RegistryError) as err:
        load_user_maps(parse_registries({"registries": entries}))
    assert str(err.value) == "registry staging: user_map: 'alice' is not a Slack user ID (U… or W…, not a name)"


def test_keys_left_empty_mean_what_leaving_them_out_means() -> None:
    entry = {"name": "prod", "url": PROD, "channels": None, "policy": None, "container": None, "kubeconfig": ""}
    prod = parse_registries({"registries": [entry]})["prod"]
    assert (prod.channels, prod.policy.empty, prod.container, prod.kubeconfig) == ((), True, None, None)


def test_a_ca_bundle_without_a_pem_certificate_is_refused(tmp_path: Path) -> None:
    key = write(tmp_path, {"not": "a certificate"}, "ca.pem")
    message = refused([{"name": "prod", "url": PROD, "ca_bundle": str(key)}])
    assert message == f"registry prod: ca_bundle: {key} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
