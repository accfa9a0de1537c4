"""CDS (Li et al. 2021): transition predictors and the mutual-information intrinsic reward."""
