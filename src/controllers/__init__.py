"""Multi-agent controller registry: `mac` config key -> class taking (scheme, groups, args)."""
from controllers.basic_controller import BasicMAC

REGISTRY: dict[str, type] = {
    "basic_mac": BasicMAC,
}
