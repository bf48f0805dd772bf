from setuptools import find_packages, setup

setup(
    name="nas-proxy",
    version="0.1.0",
    description="Neural architecture search on distilled proxy data (D2M, DM, D3, random).",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["nas", "nas.*", "proxies", "proxies.*", "search_spaces",
                                    "search_spaces.*", "storage", "storage.*"]),
    # NAS-Bench-201's published table; the benchmarks' named recipes, contenders and protocols
    package_data={"search_spaces": ["data/*.csv.gz"], "nas.bench": ["experiments/*.toml"]},
    install_requires=[
        "torch>=2.2,<3",
        "numpy>=1.24",
        "scipy>=1.10",
        "sqlalchemy>=2.0,<3",
        "filelock>=3.4",  # study locks beside a SQLite file (the nni extra caps it below 3.12)
        # RetryHeartbeatStaleTrialCallback; capped below the next major, whose private tables
        # nas/engines/optuna_tables.py reads may change (tests/engines/test_optuna_tables.py)
        "optuna>=4.9,<6",
        "alembic>=1.5",  # in-place schema migrations (optuna needs it too)
        "pillow>=9",
        "tqdm>=4.60",
        "rich>=13",
        "matplotlib>=3.7",
    ],
    extras_require={
        "dev": ["pytest>=8", "pytest-timeout>=2", "ruff>=0.5", "import-linter>=2.1"],
        # SQLAlchemy 2.1 maps postgresql:// to psycopg 3; postgresql+psycopg2:// also works
        # where psycopg2 is installed
        "postgres": ["psycopg[binary]>=3.1"],
        "dashboard": ["optuna-dashboard>=0.15"],
        "nni": ["nni>=3.0", "pytorch-lightning>=2.0", "torchmetrics>=1.0"],
    },
    entry_points={"console_scripts": ["nas=nas.cli:main"]},
)
