import dataclasses

import pytest
import yaml

from aebnas.config import Config, apply_overrides, dump_config, load_config
from aebnas.errors import UserError


def test_yaml_then_overrides_then_dump_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("version: 1\ndata:\n  dataset: cifar10\nlow_fidelity:\n  epochs: 3\n")
    config = load_config(path)
    assert config.data.dataset == "cifar10" and config.low_fidelity.epochs == 3
    assert config.full_fidelity == Config().full_fidelity
    config = apply_overrides(config, {"low_fidelity.epochs": 2, "seed": 7, "data.root": None})
    assert config.low_fidelity.epochs == 2 and config.seed == 7
    dump_config(config, tmp_path / "effective.yaml")
    assert load_config(tmp_path / "effective.yaml") == config


@pytest.mark.parametrize(
    "text, message",
    [
        ("data:\n  datset: x\n", "unknown config key data.datset"),
        ("seed: abc\n", "config key seed must be int"),
        ("low_fidelity: 3\n", "must be a mapping"),
        ("version: 9\n", "version 9"),
        ("data: [\n", "not valid YAML"),
    ],
)
def test_bad_configs_are_named(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_config(path)


def test_shipped_configs_load():
    for name in ("fashion-mnist", "cifar10"):
        load_config(f"configs/{name}.yaml")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"low_fidelity.lr": float("nan")}, "low_fidelity.lr must be a finite number"),
        ({"low_fidelity.lr": 0.0}, "low_fidelity.lr must be positive"),
        ({"full_fidelity.epochs": 0}, "full_fidelity: epochs 0 needs a supernet"),
        ({"full_fidelity.epochs": -1}, "full_fidelity.epochs must be >= 0"),
        ({"thresholds.accuracy_tolerance": 1.0}, "accuracy_tolerance must be < 1"),
        ({"thresholds.tuner": "magic"}, "must be one of optimal, grid"),
        ({"search.threads": 0}, "search.threads must be >= 1"),
    ],
)
def test_ranges_are_checked_for_flags_and_yaml(tmp_path, overrides, message):
    with pytest.raises(UserError, match=message):
        apply_overrides(Config(), overrides)
    (key, value), path = next(iter(overrides.items())), tmp_path / "c.yaml"
    section, leaf = key.split(".")
    path.write_text(yaml.safe_dump({"version": 1, section: {leaf: value}}))
    with pytest.raises(UserError, match=message):
        load_config(path)


def test_choices_match_the_registries():
    from aebnas.confidence import CONFIDENCES
    from aebnas.config import CONSTRAINT_KEY, ThresholdConfig
    from aebnas.thresholds.tuners import TUNERS

    fields = {f.name: f.metadata[CONSTRAINT_KEY] for f in dataclasses.fields(ThresholdConfig)
              if CONSTRAINT_KEY in f.metadata}
    assert sorted(fields["tuner"].choices) == TUNERS.names()
    assert sorted(fields["confidence"].choices) == CONFIDENCES.names()
