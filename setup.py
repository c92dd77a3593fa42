"""One distribution "wsal"; features/ and eval/ install inside the wsal namespace (see DESIGN.md)."""
from setuptools import setup

setup(
    name="wsal",
    version="0.1.0",
    description="Weakly-supervised temporal action localization: features, change points, attention MIL, mAP@tIoU",
    python_requires=">=3.11",
    packages=["wsal", "wsal.model", "wsal.commands", "wsal.synthetic", "wsal.features", "wsal.eval"],
    package_dir={"wsal": "wsal", "wsal.features": "features", "wsal.eval": "eval"},
    # the THUMOS-14 kit's class list, read by `wsal evaluate` / `wsal localize --format thumos14`
    package_data={"wsal.eval": ["thumos14_detclasslist.txt"]},
    install_requires=[
        "torch>=2.1",
        "numpy>=1.24",
        "scipy>=1.10",
        "h5py>=3.8",
        "pandas>=2.0",
        "scikit-learn>=1.3",
        "matplotlib>=3.7",
        "tqdm>=4.60",
    ],
    extras_require={
        # triton: the tests run the CUDA decision-scan kernel under Triton's CPU interpreter
        "dev": ["pytest>=7.4", 'triton>=3.1; platform_system == "Linux" and platform_machine == "x86_64"'],
        "video": ["av>=11", "opencv-contrib-python-headless>=4.8"],
    },
    entry_points={"console_scripts": ["wsal = wsal.cli:main"]},
)
