"""Every form of a Metaflow Config: resolved at deploy time, the same in every task."""

from metaflow import Config, FlowSpec, config_expr, environment, retry, step


def yaml_parser(text):
    """A custom parser: the config's text is YAML (which JSON also is)."""
    import yaml

    return yaml.safe_load(text)


def lines_parser(text):
    """A custom text format that is not JSON: one `key = value` per line."""
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip())
    return {key.strip(): value.strip() for key, value in pairs}


def computed_default(ctx):
    """A default computed at deploy time from the parameter context."""
    return {"flow": ctx.flow_name, "config": ctx.parameter_name}


class ConfigFormsFlow(FlowSpec):
    """Configs from a file, a dict, JSON text, a function, parsers, and plain text."""

    file_cfg = Config("file_cfg", default="config_forms.json")
    dict_cfg = Config("dict_cfg", default_value={"alpha": 1, "nested": {"names": ["a", "b"]}})
    json_cfg = Config("json_cfg", default_value='{"beta": "two"}')
    fn_cfg = Config("fn_cfg", default_value=computed_default)
    parsed_cfg = Config("parsed_cfg", default_value="gamma: 3\nlabel: parsed\n", parser=yaml_parser)
    plain_cfg = Config("plain_cfg", default_value="just text", plain=True)
    # Parsers that cannot read JSON: the tasks get the parsed value, as on Argo Workflows.
    toml_cfg = Config("toml_cfg", default="config_forms.toml", parser="tomllib.loads")
    lines_cfg = Config(
        "lines_cfg",
        default_value="mode = fast\nodd = {{ x }} 'q' $(id) a\x00b",
        parser=lines_parser,
    )

    @step
    def start(self):
        self.seen_start = self.snapshot()
        self.next(self.decorated)

    @environment(vars={"GAMMA": config_expr("str(parsed_cfg.gamma)")})
    @retry(times=config_expr("dict_cfg.alpha"))
    @step
    def decorated(self):
        import os

        self.gamma_env = os.environ.get("GAMMA")
        self.seen_decorated = self.snapshot()
        self.next(self.end)

    @step
    def end(self):
        self.seen_end = self.snapshot()

    def snapshot(self):
        """Every config's value as plain data."""

        def plain(value):
            return value.to_dict() if hasattr(value, "to_dict") else value

        return {
            "file_cfg": plain(self.file_cfg),
            "dict_cfg": plain(self.dict_cfg),
            "json_cfg": plain(self.json_cfg),
            "fn_cfg": plain(self.fn_cfg),
            "parsed_cfg": plain(self.parsed_cfg),
            "plain_cfg": plain(self.plain_cfg),
            "toml_cfg": plain(self.toml_cfg),
            "lines_cfg": plain(self.lines_cfg),
        }


if __name__ == "__main__":
    ConfigFormsFlow()
