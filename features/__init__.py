"""wsal.features: videos -> snippet features in one HDF5 store. Never imports wsal.model."""
