"""KFP components: one thin adapter per library stage (``mtforge.stages.<name>``).

Each component takes KFP parameters and artifacts, makes one library call through
:func:`mtforge.stage.run_stage`, and publishes the stage's stats as a KFP ``Metrics``
artifact. The image comes from :data:`components.image.IMAGE`.
"""
