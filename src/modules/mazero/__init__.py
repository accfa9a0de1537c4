"""The MAZero network (paper eq. 4): per-agent representation, dynamics and policy, a
transformer communication block, centralised value and reward heads."""
