"""RODE (Wang et al. 2021): action representations, their clustering into role action spaces,
the role selector and the role policies."""
