"""Multi-agent controller registry: `mac` config key -> Controller class taking (scheme, groups, args)."""
from controllers.base import Controller
from controllers.basic_controller import BasicMAC
from controllers.mazero_controller import MAZeroMAC
from controllers.rode_controller import RODEMAC
from controllers.mamba_controller import MAMBAMAC

REGISTRY: dict[str, type[Controller]] = {
    "basic_mac": BasicMAC,
    "mazero_mac": MAZeroMAC,
    "rode_mac": RODEMAC,
    "mamba_mac": MAMBAMAC,
}
