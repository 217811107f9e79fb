"""Prompt templates and pure render functions: persona sliders, prompt blocks, greetings,
caller context packing and the session instructions."""
