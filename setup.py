"""lottery_jax: lottery tickets under distribution shift, in JAX and Flax."""

import setuptools

setuptools.setup(
    name='lottery_jax',
    version='0.1.0',
    description=('Lottery tickets (iterative magnitude pruning) for text CNNs '
                 'under distribution shift, in JAX and Flax.'),
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=setuptools.find_packages(include=['lottery_jax', 'lottery_jax.*',
                                               'experiments',
                                               'experiments.*']),
    python_requires='>=3.10',
    install_requires=[
        'absl-py',
        'flax>=0.10',
        'jax>=0.4.36',
        'matplotlib',
        'ml_collections',
        'numpy',
        'optax',
        'orbax-checkpoint',
        'scikit-learn',
        'scipy',
        'sentencepiece>=0.2',
        'tqdm',
        # TensorBoard event files without TensorFlow (see lottery_jax.curves).
        'tensorboardX>=2.6',
    ],
    extras_require={
        # tensorboard: its event reader checks the curves' event files.
        'test': ['pytest', 'pytest-xdist', 'nbclient', 'ipykernel',
                 'nbformat', 'tensorboard'],
        # Reading a prepared TFDS amazon_us_reviews copy.
        'tfds': ['tensorflow-datasets', 'tensorflow-cpu'],
        # The PyTorch reference of the benchmarks (CPU build).
        'bench': ['torch'],
        # The study's trainings as Ray tasks (run_study --engine=ray).
        'ray': ['ray'],
        # Federated runs on Flower (lottery_jax.flower); its simulation
        # engine runs on Ray.
        'flower': ['flwr[simulation]'],
    },
)
