"""Settings, per-upstream-kind defaults and CePO presets."""
