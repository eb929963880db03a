from metaflow import Config, FlowSpec, config_expr, environment, step


class ConfigFlow(FlowSpec):
    """Configs resolved at deploy time."""

    cfg = Config("cfg", default="config_flow.json")

    @environment(vars={"ALPHA": config_expr("str(cfg.alpha)")})
    @step
    def start(self):
        import os

        self.alpha = self.cfg.alpha
        self.env_alpha = os.environ.get("ALPHA")
        self.next(self.end)

    @step
    def end(self):
        self.cfg_name = self.cfg.name


if __name__ == "__main__":
    ConfigFlow()
