"""Mixer registry: `mixer` config key -> class taking (args); forward(agent_qs [B,T,N], states [B,T,S]) -> [B,T,1]."""
from modules.mixers.qmix import QMixer
from modules.mixers.qplex import QPLEXMixer
from modules.mixers.vdn import VDNMixer

REGISTRY: dict[str, type] = {
    "vdn": VDNMixer,
    "qmix": QMixer,
    "dmaq": QPLEXMixer,
}
