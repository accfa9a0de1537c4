"""Multi-agent controller registry: `mac` config key -> class taking (scheme, groups, args)."""
from controllers.basic_controller import BasicMAC
from controllers.mazero_controller import MAZeroMAC

REGISTRY: dict[str, type] = {
    "basic_mac": BasicMAC,
    "mazero_mac": MAZeroMAC,
}
