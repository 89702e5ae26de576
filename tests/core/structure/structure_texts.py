"""Texts shared by the structurization tests (written for these tests)."""

MARKDOWN = """# Caring for rice seedlings

Young rice plants are fragile in their first weeks. Growers protect them in three ways.

## Seeds

1. Choose clean seeds. Throw away any grain that looks damaged or discoloured.
2. Disinfect the seeds before sowing.
   - Soak them in a fungicide solution for two days.
   - Let them dry in the shade afterwards.

Clean seed is the cheapest protection there is. It prevents most early infections.

## Straw

Never cover seedlings with straw from a diseased field. Burn such straw or compost it far away.
"""

TOPICS = (
    "The Amazon rainforest covers much of the Amazon basin in South America. "
    "It spans parts of nine countries, with most of it in Brazil. "
    "The forest holds the largest number of tree species on Earth. "
    "Scientists estimate that it contains about sixteen thousand tree species.\n\n"
    "Jazz originated in New Orleans in the late nineteenth century. "
    "It grew out of blues and ragtime played by African American musicians. "
    "Improvisation is a defining feature of jazz performances. "
    "Famous jazz musicians include Louis Armstrong and Duke Ellington.\n\n"
    "Photosynthesis converts light energy into chemical energy in plants. "
    "Chlorophyll in the leaves absorbs mostly red and blue light. "
    "The process releases oxygen as a by-product. "
    "Glucose made by photosynthesis fuels the growth of the plant."
)

SHORT = "Paris is the capital of France. It lies on the Seine."

HARD_WRAPPED = """Mrs. Ferrars died on the night of the 16th September. I
was sent for at eight o'clock on the morning of Friday the 17th. There
was nothing to be done. She had been dead some hours.

It was just a few minutes after nine when I reached home once more. I
opened the front door with my latch-key, and purposely delayed a few
moments in the hall."""
