"""Small data files in the public data sets' own schemas, generated here (nothing downloaded).

They let the paper's code paths run on a real pretrained model without the hub: the same
loaders that read the hub copies (``hub_data.load_hub_dataset`` through a config's
``local_files``, lm-eval's own task definitions through ``evaluation.local_task_data``)
read these files. Every row is a simple true statement or question a small instruct model
can answer some of the time; which items are kept, their order and the order of the
answer options follow ``seed``.

Schemas (one file per data set; ``FIXTURE_FILES`` names them):

- ShareGPT (anon8231489123/ShareGPT_Vicuna_unfiltered, ShareGPT_V3_unfiltered_cleaned_split
  .json): a JSON list of ``{"id", "conversations": [{"from": "human"|"gpt", "value"}]}``;
- Anthropic/hh-rlhf: JSONL ``{"chosen", "rejected"}``, each a transcript of
  ``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` turns that differ in the last answer;
- HuggingFaceH4/ultrafeedback_binarized (splits train_prefs, test_prefs): ``{"prompt",
  "prompt_id", "chosen", "rejected", "messages", "score_chosen", "score_rejected"}`` with
  chosen/rejected/messages lists of ``{"role", "content"}``;
- tatsu-lab/alpaca_eval (alpaca_eval_gpt4_baseline.json): a JSON list of ``{"instruction",
  "output", "generator", "dataset"}``; and its df_gamed.csv (the length-controlled win
  rate's data, read by alpaca_eval's GLM): CSV columns ``model, index,
  instruction_difficulty, preference, std_delta_len, not_gamed_baseline``, one row per
  gamed baseline (gamed_concise, gamed_verbose) and instruction index 0..n-1;
- togethercomputer/RedPajama-Data-1T-Sample: JSONL ``{"text", "meta"}``;
- benchmarks, as lm-eval 0.4.13's task definitions read them:
  ARC (allenai/ai2_arc) ``{"id", "question", "choices": {"text", "label"}, "answerKey"}``;
  RACE (EleutherAI/race) ``{"article", "problems"}`` where ``problems`` is the Python
  literal of a list of ``{"answer", "options", "question"}`` (lm-eval's preprocess_race
  parses it with ast.literal_eval and asks the last problem after the others);
  PIQA (baber/piqa) ``{"goal", "sol1", "sol2", "label"}``;
  SQuAD v2 ``{"id", "title", "context", "question", "answers": {"text", "answer_start"}}``
  (empty lists for an unanswerable question); rajpurkar/squad_v2's train split, AdaMerging's
  fit data, has the same schema;
  DROP (EleutherAI/drop) ``{"section_id", "query_id", "passage", "question", "answer":
  {"number", "date": {"day", "month", "year"}, "spans"}, "validated_answers": {"number":
  [...], "date": [...], "spans": [[...]]}}`` (lm-eval's drop utils.process_docs reads both);
  WMT14 fr-en (wmt/wmt14) ``{"translation": {"fr", "en"}}``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
from pathlib import Path

from alignment_tax.io import atomic_path, write_json, write_jsonl

# name -> path under the fixture folder. Benchmarks are named as the config names them.
FIXTURE_FILES = {
    "sharegpt": "sharegpt.json",
    "hh_rlhf_train": "hh_rlhf/train.jsonl",
    "hh_rlhf_test": "hh_rlhf/test.jsonl",
    "ultrafeedback_train_prefs": "ultrafeedback/train_prefs.jsonl",
    "ultrafeedback_test_prefs": "ultrafeedback/test_prefs.jsonl",
    "alpaca_eval": "alpaca_eval.json",
    "alpaca_eval_glm": "alpaca_eval_df_gamed.csv",
    "pretrain_sample": "pretrain_sample.jsonl",
    "arc_easy": "benchmarks/arc_easy.jsonl",
    "arc_challenge": "benchmarks/arc_challenge.jsonl",
    "race": "benchmarks/race.jsonl",
    "piqa": "benchmarks/piqa.jsonl",
    "squadv2": "benchmarks/squadv2.jsonl",
    # rajpurkar/squad_v2's train split (AdaMerging's labelled fit data, datasets.squadv2_train):
    # other passages than the evaluated squadv2 fixture, as the hub's train and validation
    # splits are
    "squadv2_train": "squad_v2/train.jsonl",
    "drop": "benchmarks/drop.jsonl",
    "wmt14-fr-en": "benchmarks/wmt14-fr-en.jsonl",
}
BENCHMARK_FIXTURES = ("arc_easy", "arc_challenge", "race", "piqa", "squadv2", "drop", "wmt14-fr-en")
LETTERS = "ABCD"

# (question, correct answer, three wrong answers)
ARC_EASY = [
    ("Which of these is a source of light?", "the Sun", ("a rock", "a chair", "a spoon")),
    ("What do plants need to make their own food?", "sunlight", ("sand", "plastic", "metal")),
    ("Which state of matter has a fixed shape?", "solid", ("liquid", "gas", "steam")),
    ("What force pulls objects toward the ground?", "gravity", ("magnetism", "friction", "wind")),
    (
        "Which organ pumps blood through the body?",
        "the heart",
        ("the lungs", "the stomach", "the skin"),
    ),
    ("At what temperature in degrees Celsius does pure water freeze?", "0", ("50", "100", "25")),
    ("Which planet do people live on?", "Earth", ("Mars", "Venus", "Jupiter")),
    ("What do bees collect from flowers?", "nectar", ("sand", "bark", "stones")),
    (
        "Which gas do people need to breathe in to stay alive?",
        "oxygen",
        ("helium", "neon", "argon"),
    ),
    ("Which of these animals is a mammal?", "a dog", ("a frog", "a trout", "a lizard")),
    (
        "Which tool is used to measure temperature?",
        "a thermometer",
        ("a ruler", "a compass", "a magnifying glass"),
    ),
    (
        "What happens to ice when it is heated?",
        "it melts",
        ("it freezes", "it gets harder", "it turns into sand"),
    ),
    ("About how many days does it take Earth to go around the Sun?", "365", ("30", "7", "1000")),
    (
        "Which part of a plant takes in water from the soil?",
        "the roots",
        ("the flowers", "the petals", "the seeds"),
    ),
    ("Which material is attracted to a magnet?", "iron", ("wood", "glass", "rubber")),
    ("What do caterpillars grow into?", "butterflies", ("frogs", "birds", "spiders")),
]
ARC_CHALLENGE = [
    (
        "A student mixes baking soda and vinegar and sees bubbles. What do the bubbles show?",
        "a gas is produced",
        ("the mixture is freezing", "a magnet has formed", "the vinegar turned into metal"),
    ),
    (
        "Why does the Moon seem to change shape during a month?",
        "different amounts of its lit side face Earth",
        ("the Moon grows and shrinks", "clouds cover parts of it", "the Sun moves around it"),
    ),
    (
        "Which process moves water from the ocean into the air?",
        "evaporation",
        ("condensation", "precipitation", "erosion"),
    ),
    (
        "A metal spoon left in hot soup becomes hot. How does the heat reach the handle?",
        "conduction",
        ("reflection", "evaporation", "condensation"),
    ),
    (
        "Which property of a mineral is tested by scratching it with a steel nail?",
        "hardness",
        ("color", "shine", "mass"),
    ),
    (
        "Which of these traits of a dog is inherited?",
        "the color of its fur",
        ("a trick it learned", "a scar on its leg", "the name it answers to"),
    ),
    (
        "What is the best way to make the results of an experiment more reliable?",
        "repeat the trials",
        ("change several variables at once", "use one measurement", "ignore odd results"),
    ),
    (
        "Which layer of Earth is made of liquid metal?",
        "the outer core",
        ("the crust", "the inner core", "the atmosphere"),
    ),
    (
        "Which part of a cell controls the activities of the cell?",
        "the nucleus",
        ("the cell wall", "the vacuole", "the membrane pores"),
    ),
    ("Through which material does sound travel fastest?", "steel", ("air", "water", "empty space")),
    (
        "Which energy change happens in a flashlight that runs on batteries?",
        "chemical energy to light energy",
        (
            "light energy to chemical energy",
            "sound energy to heat energy",
            "heat energy to chemical energy",
        ),
    ),
    (
        "What causes day and night on Earth?",
        "Earth spinning on its axis",
        ("Earth moving around the Sun", "the Moon blocking the Sun", "the Sun turning off"),
    ),
    (
        "Which gas do plants take in to make food by photosynthesis?",
        "carbon dioxide",
        ("oxygen", "helium", "hydrogen"),
    ),
    ("Which of these energy sources is renewable?", "wind", ("coal", "oil", "natural gas")),
    (
        "Which organisms are at the start of every food chain?",
        "producers such as plants",
        ("top predators", "decomposers", "insects"),
    ),
    (
        "A ball rolls more slowly on grass than on a floor. Which force causes this?",
        "friction",
        ("magnetism", "buoyancy", "electricity"),
    ),
]
# (goal, correct solution, wrong solution)
PIQA = [
    (
        "To keep bread fresh for longer,",
        "store it in a sealed bag.",
        "leave it open on the kitchen counter.",
    ),
    (
        "How do I cool a hot cup of tea quickly?",
        "Pour it into a wide cup and stir it.",
        "Put a lid on it and wrap it in a towel.",
    ),
    (
        "To dry wet shoes,",
        "stuff them with newspaper and leave them in a warm room.",
        "put them in a bucket of water.",
    ),
    (
        "How do I sharpen a pencil?",
        "Turn it inside a pencil sharpener.",
        "Dip the tip in a glass of water.",
    ),
    (
        "To open a jar with a tight lid,",
        "run the lid under hot water and twist it.",
        "put the jar in the freezer and shake it.",
    ),
    (
        "How do you make ice cubes?",
        "Fill a tray with water and put it in the freezer.",
        "Fill a tray with water and put it in the oven.",
    ),
    (
        "To clean a dirty window,",
        "spray it with glass cleaner and wipe it with a cloth.",
        "rub it with a handful of mud.",
    ),
    (
        "How do I keep a house plant alive?",
        "Water it regularly and give it sunlight.",
        "Keep it in a dark closet without water.",
    ),
    (
        "To stop a door hinge from squeaking,",
        "put a few drops of oil on the hinge.",
        "paint the door a new color.",
    ),
    (
        "How do I remove a splinter from my finger?",
        "Pull it out gently with clean tweezers.",
        "Push it deeper with a hammer.",
    ),
    (
        "How do you boil an egg?",
        "Put the egg in boiling water for about ten minutes.",
        "Put the egg in cold water in the fridge for ten minutes.",
    ),
    (
        "To keep warm on a cold winter day,",
        "wear a coat, a hat and gloves.",
        "wear shorts and stand in the wind.",
    ),
    ("How do you light a candle?", "Hold a lit match to the wick.", "Pour water on the wick."),
    (
        "To make a paper airplane,",
        "fold a sheet of paper into a pointed shape with wings.",
        "crumple the paper into a tight ball.",
    ),
    (
        "How do I tie my shoelaces?",
        "Cross the laces, make two loops and pull them tight.",
        "Cut the laces off the shoe.",
    ),
    (
        "To carry soup to work,",
        "pour it into a container with a tight lid.",
        "pour it into a paper envelope.",
    ),
]
# (article, [(question, correct option, three wrong options), ...])
RACE = [
    (
        "Tom lives in a small town near the sea. Every morning he rides his bike to school. "
        "After school he helps his father at the fish market. On Sundays he swims in the sea "
        "with his sister Anna.",
        [
            ("How does Tom go to school?", "by bike", ("by bus", "on foot", "by car")),
            (
                "Who does Tom swim with on Sundays?",
                "his sister",
                ("his father", "his teacher", "his friend Sam"),
            ),
        ],
    ),
    (
        "Maria started a garden last spring. She planted tomatoes, beans and sunflowers. "
        "The sunflowers grew taller than her. In the summer she gave many tomatoes to her "
        "neighbours.",
        [
            (
                "When did Maria start her garden?",
                "last spring",
                ("last winter", "last autumn", "ten years ago"),
            ),
            (
                "What did Maria give to her neighbours?",
                "tomatoes",
                ("sunflowers", "beans", "flowers"),
            ),
        ],
    ),
    (
        "The city library opens at nine in the morning and closes at six in the evening. "
        "Children can borrow five books at a time. Every Saturday a teacher reads stories "
        "to young children.",
        [
            (
                "When does the library close?",
                "at six in the evening",
                ("at nine in the morning", "at noon", "at midnight"),
            ),
            ("How many books can a child borrow at a time?", "five", ("two", "ten", "one")),
        ],
    ),
    (
        "Sam wanted a dog for many years. On his tenth birthday his parents took him to an "
        "animal shelter. He chose a small brown dog and named it Lucky. Now Sam walks Lucky "
        "every evening.",
        [
            (
                "Where did Sam get his dog?",
                "at an animal shelter",
                ("at a pet shop", "from his uncle", "in the park"),
            ),
            ("What did Sam name the dog?", "Lucky", ("Brownie", "Max", "Rex")),
        ],
    ),
    (
        "Water covers most of the surface of the Earth. Most of it is salt water in the "
        "oceans. Only a small part is fresh water that people can drink, so we should not "
        "waste it.",
        [
            (
                "Where is most of the water on Earth?",
                "in the oceans",
                ("in rivers", "in lakes", "in clouds"),
            ),
            (
                "What does the writer want us to do?",
                "not waste fresh water",
                ("drink salt water", "build more ships", "swim every day"),
            ),
        ],
    ),
    (
        "Anna is learning to play the piano. She practices for thirty minutes every day. "
        "Her teacher, Mr. Brown, says she is making good progress. Next month she will play "
        "in a school concert.",
        [
            (
                "How long does Anna practice each day?",
                "thirty minutes",
                ("two hours", "ten minutes", "one hour"),
            ),
            (
                "What will Anna do next month?",
                "play in a school concert",
                ("stop playing", "buy a new piano", "teach Mr. Brown"),
            ),
        ],
    ),
    (
        "Bicycles are good for the city. They do not make the air dirty and they take up "
        "little space. Riding a bike is also good exercise, so many people ride to work.",
        [
            (
                "Why are bicycles good for the air?",
                "they do not make it dirty",
                ("they are fast", "they are cheap", "they are heavy"),
            ),
            (
                "Why do many people ride bikes to work?",
                "it is good exercise",
                ("buses are free", "cars are not allowed", "it always rains"),
            ),
        ],
    ),
    (
        "Every autumn many birds fly south to warmer places. They find more food there during "
        "the winter. In the spring they fly back north to build their nests.",
        [
            (
                "When do many birds fly south?",
                "in autumn",
                ("in spring", "in summer", "at night only"),
            ),
            (
                "Why do the birds fly south?",
                "to find more food in winter",
                ("to build nests", "to meet people", "to avoid the rain"),
            ),
        ],
    ),
    (
        "Lisa baked a chocolate cake for her mother's birthday. She used eggs, flour, sugar "
        "and cocoa. The cake was in the oven for forty minutes. Her mother said it was the "
        "best cake she had ever eaten.",
        [
            (
                "Why did Lisa bake a cake?",
                "for her mother's birthday",
                ("for a school party", "to sell it", "for her own birthday"),
            ),
            (
                "How long was the cake in the oven?",
                "forty minutes",
                ("four minutes", "two hours", "ten minutes"),
            ),
        ],
    ),
    (
        "The school held a clean-up day in the park. Students picked up bottles and paper "
        "and planted twenty new trees. At the end of the day the park looked clean and "
        "green.",
        [
            ("What did the students plant?", "trees", ("flowers", "vegetables", "grass")),
            (
                "How did the park look at the end of the day?",
                "clean and green",
                ("dirty", "empty", "dark"),
            ),
        ],
    ),
    (
        "Ben works at a bakery. He starts work at five in the morning because fresh bread "
        "must be ready when the shop opens at seven. His favourite bread is made with "
        "oats and honey.",
        [
            (
                "Why does Ben start work so early?",
                "the bread must be ready when the shop opens",
                ("he likes the dark", "the bus leaves early", "he sleeps at the bakery"),
            ),
            (
                "What is in Ben's favourite bread?",
                "oats and honey",
                ("cheese and ham", "chocolate", "apples and nuts"),
            ),
        ],
    ),
    (
        "The Nile is one of the longest rivers in the world. It flows north through Africa "
        "and ends in the Mediterranean Sea. For thousands of years farmers have used its "
        "water to grow food.",
        [
            ("In which direction does the Nile flow?", "north", ("south", "east", "west")),
            (
                "How have farmers used the Nile?",
                "to water their crops",
                ("to make salt", "to build mountains", "to keep fish in tanks"),
            ),
        ],
    ),
    (
        "Kate forgot her umbrella on a rainy day. Her friend Mia shared her umbrella on the "
        "way home. The next day Kate thanked Mia with a small card.",
        [
            ("What did Kate forget?", "her umbrella", ("her coat", "her card", "her bag")),
            (
                "How did Kate thank Mia?",
                "with a small card",
                ("with an umbrella", "with money", "with a phone call"),
            ),
        ],
    ),
    (
        "The museum in our town has a new room about space. Visitors can see a real piece "
        "of a meteorite and a model of the Moon. The room is free for students on Fridays.",
        [
            (
                "What can visitors see in the new room?",
                "a piece of a meteorite",
                ("a real rocket", "a live animal", "an old car"),
            ),
            (
                "When is the room free for students?",
                "on Fridays",
                ("on Mondays", "every day", "on holidays only"),
            ),
        ],
    ),
    (
        "Peter wanted to get better at running. He made a plan to run three times a week and "
        "to go to bed early. After two months he finished a ten kilometre race.",
        [
            (
                "How often did Peter plan to run?",
                "three times a week",
                ("every day", "once a month", "twice a year"),
            ),
            (
                "What did Peter do after two months?",
                "finished a ten kilometre race",
                ("stopped running", "bought a bike", "won a swimming race"),
            ),
        ],
    ),
    (
        "Honey bees live together in large groups called colonies. Each colony has one queen. "
        "Worker bees collect nectar from flowers and turn it into honey.",
        [
            ("How many queens does a colony have?", "one", ("two", "ten", "none")),
            ("What do worker bees turn nectar into?", "honey", ("wax", "pollen", "sugar cane")),
        ],
    ),
]
# (title, context, [(question, answer span or None for unanswerable), ...])
SQUAD = [
    (
        "Paris",
        "Paris is the capital of France. It is on the river Seine. The Eiffel Tower "
        "was built in Paris in 1889.",
        [
            ("What is the capital of France?", "Paris"),
            ("Which river runs through Paris?", "Seine"),
            ("In what year was the Eiffel Tower built?", "1889"),
            ("How tall was the first building in Paris?", None),
        ],
    ),
    (
        "Honey bee",
        "The honey bee lives in a hive with thousands of other bees. Worker bees "
        "make honey from the nectar of flowers. A colony has a single queen that lays eggs.",
        [
            ("Where does a honey bee live?", "a hive"),
            ("What do worker bees make honey from?", "the nectar of flowers"),
            ("Who lays the eggs in a colony?", "a single queen"),
            ("How many colonies are in France?", None),
        ],
    ),
    (
        "Moon",
        "The Moon is Earth's only natural satellite. It takes about 27 days to orbit "
        "Earth. In 1969 Neil Armstrong became the first person to walk on the Moon.",
        [
            ("What is Earth's only natural satellite?", "The Moon"),
            ("How long does the Moon take to orbit Earth?", "about 27 days"),
            ("Who was the first person to walk on the Moon?", "Neil Armstrong"),
            ("What color are the rocks on Mars?", None),
        ],
    ),
    (
        "Water",
        "Water boils at 100 degrees Celsius at sea level and freezes at 0 degrees. "
        "A water molecule has two hydrogen atoms and one oxygen atom.",
        [
            ("At what temperature does water boil at sea level?", "100 degrees Celsius"),
            ("How many hydrogen atoms does a water molecule have?", "two"),
            ("Who discovered water?", None),
        ],
    ),
    (
        "Amazon",
        "The Amazon rainforest is in South America. Most of it lies in Brazil. It "
        "is home to millions of kinds of insects, plants and animals.",
        [
            ("On which continent is the Amazon rainforest?", "South America"),
            ("In which country is most of the Amazon rainforest?", "Brazil"),
            ("What is the oldest tree in the Amazon called?", None),
        ],
    ),
]
# SQuAD v2's train split, for AdaMerging's fit: other passages and questions than SQUAD
# (the evaluated validation items), in the same form
SQUAD_TRAIN = [
    (
        "Nile",
        "The Nile is a river in Africa. It flows north into the Mediterranean Sea. Cairo, "
        "the capital of Egypt, lies on its banks.",
        [
            ("On which continent is the Nile?", "Africa"),
            ("Into which sea does the Nile flow?", "the Mediterranean Sea"),
            ("Which capital lies on the banks of the Nile?", "Cairo"),
            ("How many bridges cross the Nile?", None),
        ],
    ),
    (
        "Penguin",
        "Penguins are birds that cannot fly. They swim in cold seas and eat fish. The "
        "emperor penguin is the largest kind of penguin.",
        [
            ("What do penguins eat?", "fish"),
            ("Which is the largest kind of penguin?", "The emperor penguin"),
            ("Where do penguins swim?", "in cold seas"),
            ("What is the fastest penguin called?", None),
        ],
    ),
    (
        "Telephone",
        "Alexander Graham Bell was granted a patent for the telephone in 1876. His first "
        "call was to his assistant, Thomas Watson.",
        [
            ("Who was granted a patent for the telephone?", "Alexander Graham Bell"),
            ("In what year was the telephone patented?", "1876"),
            ("Who received the first telephone call?", "Thomas Watson"),
            ("How much did the first telephone cost?", None),
        ],
    ),
    (
        "Sun",
        "The Sun is a star at the centre of the Solar System. Light from the Sun takes "
        "about eight minutes to reach Earth.",
        [
            ("What kind of object is the Sun?", "a star"),
            ("How long does sunlight take to reach Earth?", "about eight minutes"),
            ("Who named the Sun?", None),
        ],
    ),
    (
        "Mount Everest",
        "Mount Everest is the highest mountain on Earth. It is in the Himalayas, on the "
        "border of Nepal and China. Tenzing Norgay and Edmund Hillary first climbed it in 1953.",
        [
            ("What is the highest mountain on Earth?", "Mount Everest"),
            ("In which mountain range is Mount Everest?", "the Himalayas"),
            ("In what year was Mount Everest first climbed?", "1953"),
            ("How many people live on Mount Everest?", None),
        ],
    ),
]
# (passage, [(question, ("number", n) | ("spans", [...]) | ("date", (day, month, year)))])
DROP = [
    (
        "The home team scored a touchdown in the first quarter and a field goal in the second "
        "quarter. In the third quarter the visitors kicked two field goals. The home team won "
        "the game 10 to 6.",
        [
            ("How many field goals did the visitors kick?", ("number", "2")),
            ("Which team won the game?", ("spans", ["the home team"])),
            ("How many points did the home team score?", ("number", "10")),
        ],
    ),
    (
        "In 2010 the town had 4,000 people. By 2020 the population had grown to 6,500. Most "
        "new people moved there to work at the new hospital.",
        [
            ("How many more people lived in the town in 2020 than in 2010?", ("number", "2500")),
            (
                "Why did most new people move to the town?",
                ("spans", ["to work at the new hospital"]),
            ),
            ("How many people lived in the town in 2010?", ("number", "4000")),
        ],
    ),
    (
        "The bridge was opened on 12 May 1937. It is 2,737 metres long. Before the bridge was "
        "built, people crossed the bay by ferry.",
        [
            ("When was the bridge opened?", ("date", ("12", "May", "1937"))),
            ("How did people cross the bay before the bridge?", ("spans", ["by ferry"])),
            ("How long is the bridge in metres?", ("number", "2737")),
        ],
    ),
    (
        "The farmer grew 30 rows of corn and 12 rows of beans. A storm destroyed 5 rows of "
        "corn in August. He sold the rest of the corn at the market.",
        [
            ("How many rows of corn were left after the storm?", ("number", "25")),
            ("How many rows of crops did the farmer grow in total?", ("number", "42")),
            ("What destroyed some of the corn?", ("spans", ["a storm"])),
        ],
    ),
    (
        "Alice read three books in June and five books in July. Her brother Tom read four "
        "books in July. In August they both went on holiday to Spain.",
        [
            ("How many books did Alice read in June and July?", ("number", "8")),
            ("Who read more books in July?", ("spans", ["Alice"])),
            ("Where did they go on holiday?", ("spans", ["Spain"])),
        ],
    ),
    (
        "The museum opened in 1995 with 200 paintings. Ten years later it bought 150 more. "
        "The most famous painting shows a ship in a storm.",
        [
            ("In what year did the museum buy more paintings?", ("number", "2005")),
            ("How many paintings did the museum have after it bought more?", ("number", "350")),
        ],
    ),
]
# (French, English)
WMT14_FR_EN = [
    ("Le chat dort sur le canapé.", "The cat is sleeping on the sofa."),
    ("J'aime lire des livres le soir.", "I like reading books in the evening."),
    ("Il fait beau aujourd'hui.", "The weather is nice today."),
    ("Nous allons au marché le samedi.", "We go to the market on Saturdays."),
    ("Elle a deux frères et une sœur.", "She has two brothers and a sister."),
    ("La bibliothèque ouvre à neuf heures.", "The library opens at nine o'clock."),
    ("Mon père travaille dans un hôpital.", "My father works in a hospital."),
    ("Les enfants jouent dans le parc.", "The children are playing in the park."),
    ("Je voudrais un café, s'il vous plaît.", "I would like a coffee, please."),
    ("Le train part à midi.", "The train leaves at noon."),
    ("Cette maison est très grande.", "This house is very big."),
    ("Il pleut depuis ce matin.", "It has been raining since this morning."),
    ("Nous avons visité Paris l'été dernier.", "We visited Paris last summer."),
    ("Le magasin est fermé le dimanche.", "The shop is closed on Sundays."),
    ("Elle parle anglais et français.", "She speaks English and French."),
    ("Le soleil se lève à l'est.", "The sun rises in the east."),
]
# (user question, helpful answer, unhelpful answer) for the chat and preference data
CHAT = [
    ("What is the capital of Italy?", "The capital of Italy is Rome.", "I don't know."),
    ("How many days are in a week?", "A week has seven days.", "A week has about ten days."),
    (
        "Can you name three primary colors?",
        "Red, blue and yellow are the three primary colors in painting.",
        "Green.",
    ),
    (
        "What should I do if I cut my finger?",
        "Wash the cut with clean water, press on it to stop the bleeding and cover it with a "
        "bandage.",
        "Just ignore it.",
    ),
    (
        "How do I boil water?",
        "Fill a pot with water, put it on the stove and heat it until it bubbles.",
        "Put the water in the freezer.",
    ),
    ("What is two plus three?", "Two plus three is five.", "Two plus three is six."),
    (
        "Why is the sky blue?",
        "Sunlight is scattered by the air, and blue light is scattered the most, so the sky "
        "looks blue.",
        "Because it is painted blue.",
    ),
    (
        "Give me a tip for sleeping better.",
        "Go to bed at the same time every night and keep your bedroom dark and quiet.",
        "Drink a lot of coffee before bed.",
    ),
    ("What do cows eat?", "Cows mostly eat grass and hay.", "Cows eat rocks."),
    (
        "How can I save money?",
        "Make a budget, track what you spend and put a little money aside every month.",
        "Spend everything you earn.",
    ),
    (
        "What is the largest ocean on Earth?",
        "The Pacific Ocean is the largest ocean.",
        "The largest ocean is a lake in Canada.",
    ),
    ("How many legs does a spider have?", "A spider has eight legs.", "A spider has six legs."),
    ("Translate 'thank you' into French.", "'Thank you' in French is 'merci'.", "It is 'hola'."),
    (
        "What is the boiling point of water in Celsius?",
        "Water boils at 100 degrees Celsius at sea level.",
        "Water boils at 10 degrees.",
    ),
    (
        "Suggest a healthy breakfast.",
        "Oatmeal with fruit and a glass of milk is a healthy breakfast.",
        "A bag of candy.",
    ),
    (
        "Who wrote Romeo and Juliet?",
        "William Shakespeare wrote Romeo and Juliet.",
        "It was written by a famous chef.",
    ),
    (
        "How do plants get energy?",
        "Plants use sunlight to make food from water and carbon dioxide; this is called "
        "photosynthesis.",
        "Plants eat insects every day.",
    ),
    (
        "What is a good way to learn new words?",
        "Read every day and write down new words with their meanings.",
        "Never read anything.",
    ),
    (
        "How far is the Moon from Earth?",
        "The Moon is about 384,000 kilometres from Earth.",
        "The Moon is one kilometre away.",
    ),
    (
        "What is the freezing point of water in Fahrenheit?",
        "Water freezes at 32 degrees Fahrenheit.",
        "It freezes at 100 degrees Fahrenheit.",
    ),
    ("Name a fruit that is yellow.", "A banana is a yellow fruit.", "A tomato is blue."),
    (
        "How do I make a cup of tea?",
        "Boil water, pour it over a tea bag in a cup, wait three minutes and remove the bag.",
        "Put the tea bag in cold milk for a second.",
    ),
    (
        "What is the opposite of hot?",
        "The opposite of hot is cold.",
        "The opposite of hot is warm water.",
    ),
    (
        "Why should I wash my hands?",
        "Washing your hands removes germs and helps stop illness from spreading.",
        "There is no reason to wash your hands.",
    ),
]
# (instruction, reference output, AlpacaEval subset)
ALPACA_EVAL = [
    (
        "Write a short poem about the sea.",
        "The sea is wide and deep and blue,\nIts waves roll in and greet the shore,\n"
        "They whisper secrets old and new,\nThen slip away to come once more.",
        "selfinstruct",
    ),
    (
        "Give three tips for staying healthy.",
        "1. Eat plenty of fruit and vegetables.\n2. Exercise regularly.\n3. Get enough sleep.",
        "helpful_base",
    ),
    (
        "Explain what a noun is to a child.",
        "A noun is a word for a person, a place or a thing, like 'teacher', 'park' or 'ball'.",
        "koala",
    ),
    (
        "What are the four seasons of the year?",
        "The four seasons are spring, summer, autumn and winter.",
        "helpful_base",
    ),
    (
        "Write a friendly email inviting a colleague to lunch.",
        "Hi Sam,\n\nWould you like to have lunch with me on Friday at noon? There is a new "
        "cafe near the office I would like to try.\n\nBest,\nAlex",
        "selfinstruct",
    ),
    ("List three animals that live in the ocean.", "Dolphins, sharks and octopuses.", "oasst"),
    (
        "Summarize why exercise is good for you in one sentence.",
        "Exercise strengthens your heart and muscles, improves your mood and helps you sleep.",
        "vicuna",
    ),
    (
        "How do I convert 5 kilometres to metres?",
        "Multiply by 1,000: 5 kilometres is 5,000 metres.",
        "oasst",
    ),
    ("Suggest a name for a small bakery.", "How about 'The Golden Crust'?", "selfinstruct"),
    (
        "Explain why we have day and night.",
        "Earth spins on its axis once a day, so each place turns toward the Sun (day) and "
        "then away from it (night).",
        "koala",
    ),
    (
        "Give an example of a renewable energy source.",
        "Solar power is renewable: sunlight will keep arriving for billions of years.",
        "helpful_base",
    ),
    (
        "Write a sentence using the word 'curious'.",
        "The curious cat looked inside every box in the room.",
        "vicuna",
    ),
    (
        "What is the difference between weather and climate?",
        "Weather is what the air is like on a given day; climate is the usual weather of a "
        "place over many years.",
        "oasst",
    ),
    (
        "Name the planets closest to and farthest from the Sun.",
        "Mercury is closest to the Sun and Neptune is farthest.",
        "helpful_base",
    ),
    (
        "Describe a rainbow in two sentences.",
        "A rainbow is an arc of colors that appears when sunlight shines through raindrops. "
        "Its colors run from red on the outside to violet on the inside.",
        "selfinstruct",
    ),
    (
        "How can I be more productive at work?",
        "Plan your day, do the most important task first and take short breaks.",
        "vicuna",
    ),
]

MAX_ITEMS = min(
    len(ARC_EASY),
    len(ARC_CHALLENGE),
    len(PIQA),
    len(RACE),
    len(WMT14_FR_EN),
    len(ALPACA_EVAL),
    sum(len(q) for _, _, q in SQUAD),
    sum(len(q) for _, _, q in SQUAD_TRAIN),
    sum(len(q) for _, q in DROP),
)


def _choices(rng: random.Random, correct: str, wrong: tuple[str, ...]) -> tuple[list, int]:
    options = [correct, *wrong]
    rng.shuffle(options)
    return options, options.index(correct)


def arc_rows(rng: random.Random, n: int, *, challenge: bool) -> list[dict]:
    bank = ARC_CHALLENGE if challenge else ARC_EASY
    source = "Mercury" if challenge else "MCAS"
    rows = []
    for i, (question, correct, wrong) in enumerate(rng.sample(bank, n)):
        options, answer = _choices(rng, correct, wrong)
        # some ARC rows label their options 1-4 instead of A-D; lm-eval indexes the label list
        labels = ["1", "2", "3", "4"] if i % 4 == 3 else list(LETTERS)
        rows.append(
            {
                "id": f"{source}_{rng.randrange(10**6, 10**7)}",
                "question": question,
                "choices": {"text": options, "label": labels},
                "answerKey": labels[answer],
            }
        )
    return rows


def race_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for article, problems in rng.sample(RACE, n):
        parsed = []
        for question, correct, wrong in problems:
            options, answer = _choices(rng, correct, wrong)
            parsed.append({"answer": LETTERS[answer], "options": options, "question": question})
        # EleutherAI/race stores the problems as the Python literal of a list of dicts
        rows.append({"article": article, "problems": repr(parsed)})
    return rows


def piqa_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for goal, correct, wrong in rng.sample(PIQA, n):
        label = rng.randrange(2)
        sols = [wrong, correct] if label else [correct, wrong]
        rows.append({"goal": goal, "sol1": sols[0], "sol2": sols[1], "label": label})
    return rows


def squadv2_rows(rng: random.Random, n: int, bank=SQUAD) -> list[dict]:
    """``n`` SQuAD v2 rows drawn from ``bank`` (SQUAD: the evaluated validation items;
    SQUAD_TRAIN: the train split's)."""
    items = []
    for title, context, questions in bank:
        for question, answer in questions:
            if answer is None:
                answers = {"text": [], "answer_start": []}
            else:
                start = context.index(answer)
                answers = {"text": [answer], "answer_start": [start]}
            qid = hashlib.sha1(f"{title}|{question}".encode()).hexdigest()[:24]
            items.append(
                {
                    "id": qid,
                    "title": title,
                    "context": context,
                    "question": question,
                    "answers": answers,
                }
            )
    return rng.sample(items, n)


def _drop_answer(kind: str, value) -> dict:
    answer = {"number": "", "date": {"day": "", "month": "", "year": ""}, "spans": []}
    if kind == "number":
        answer["number"] = value
    elif kind == "spans":
        answer["spans"] = list(value)
    else:
        answer["date"] = dict(zip(("day", "month", "year"), value, strict=True))
    return answer


def drop_rows(rng: random.Random, n: int) -> list[dict]:
    items = []
    for p, (passage, questions) in enumerate(DROP):
        for q, (question, (kind, value)) in enumerate(questions):
            answer = _drop_answer(kind, value)
            items.append(
                {
                    "section_id": f"fixture_{p}",
                    "query_id": hashlib.sha1(f"{p}|{q}|{question}".encode()).hexdigest()[:32],
                    "passage": passage,
                    "question": question,
                    "answer": answer,
                    # the hub stores the list of validated answers column-wise
                    "validated_answers": {
                        "number": [answer["number"]],
                        "date": [answer["date"]],
                        "spans": [answer["spans"]],
                    },
                }
            )
    return rng.sample(items, n)


def wmt14_rows(rng: random.Random, n: int) -> list[dict]:
    return [{"translation": {"fr": fr, "en": en}} for fr, en in rng.sample(WMT14_FR_EN, n)]


def _hh(turns: list[tuple[str, str]]) -> str:
    return "".join(f"\n\nHuman: {q}\n\nAssistant: {a}" for q, a in turns)


def chat_splits(rng: random.Random, n: int) -> tuple[list, list]:
    """Disjoint train and test items of the chat bank: n and max(2, n // 3)."""
    n_test = max(2, n // 3)
    if n + n_test > len(CHAT):
        raise ValueError(
            f"fixture n_items {n} needs {n + n_test} chat items; the bank has {len(CHAT)}"
        )
    items = rng.sample(CHAT, n + n_test)
    return items[:n], items[n:]


def sharegpt_rows(rng: random.Random, items: list) -> list[dict]:
    rows = []
    for i, (question, good, _) in enumerate(items):
        turns = [(question, good)]
        if i % 3 == 2:  # some conversations go on for a second exchange
            turns.append(
                ("Thank you. Can you say that more briefly?", good.split(",")[0].rstrip(".") + ".")
            )
        conversations = []
        for q, a in turns:
            conversations += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
        rows.append({"id": f"{rng.getrandbits(32):08x}_{i}", "conversations": conversations})
    return rows


def hh_rlhf_rows(items: list) -> list[dict]:
    rows = []
    for i, (question, good, bad) in enumerate(items):
        context = (
            []
            if i % 3
            else [
                ("Hi, can you help me with a question?", "Of course. What would you like to know?")
            ]
        )
        rows.append(
            {
                "chosen": _hh([*context, (question, good)]),
                "rejected": _hh([*context, (question, bad)]),
            }
        )
    return rows


def ultrafeedback_rows(rng: random.Random, items: list) -> list[dict]:
    rows = []
    for question, good, bad in items:
        user = {"content": question, "role": "user"}
        chosen = [user, {"content": good, "role": "assistant"}]
        rows.append(
            {
                "prompt": question,
                "prompt_id": hashlib.sha256(question.encode()).hexdigest(),
                "chosen": chosen,
                "rejected": [user, {"content": bad, "role": "assistant"}],
                "messages": chosen,
                "score_chosen": float(rng.choice([8.0, 8.5, 9.0, 10.0])),
                "score_rejected": float(rng.choice([1.0, 2.0, 3.0, 4.5])),
            }
        )
    return rows


def alpaca_eval_rows(rng: random.Random, n: int) -> list[dict]:
    return [
        {"instruction": instruction, "output": output, "generator": "gpt4", "dataset": subset}
        for instruction, output, subset in rng.sample(ALPACA_EVAL, n)
    ]


def alpaca_eval_glm_rows(rng: random.Random, n: int) -> list[dict]:
    """df_gamed.csv rows for instructions 0..n-1 (the alpaca_eval fixture's positions).

    As in AlpacaEval's file, each instruction has one difficulty shared by its rows, and
    the two gamed baselines answer it much shorter (std_delta_len < 0, preferred less)
    and much longer (> 0, preferred more) than the reference; the values are drawn here
    (AlpacaEval's own come from its 2023 leaderboard), so they carry the schema, not data.
    """
    difficulty = [round(rng.uniform(-1.0, 1.0), 4) for _ in range(n)]
    rows = []
    for model, sign in (("gamed_concise", -1.0), ("gamed_verbose", 1.0)):
        for i in range(n):
            delta = sign * round(rng.uniform(0.5, 2.0), 4)
            preference = 1 / (1 + math.exp(-(0.5 * delta - difficulty[i])))
            rows.append(
                {
                    "model": model,
                    "index": i,
                    "instruction_difficulty": difficulty[i],
                    "preference": round(preference, 6),
                    "std_delta_len": delta,
                    "not_gamed_baseline": False,
                }
            )
    return rows


def pretrain_rows() -> list[dict]:
    """Plain documents (the reading passages), as RedPajama rows with a ``meta`` string."""
    texts = [a for a, _ in RACE] + [c for _, c, _ in SQUAD] + [p for p, _ in DROP]
    return [
        {"text": text, "meta": json.dumps({"source": "fixture", "index": i})}
        for i, text in enumerate(texts)
    ]


def fixture_rows(seed: int, n_items: int) -> dict[str, list[dict]]:
    """Every fixture's rows, keyed as FIXTURE_FILES; each data set draws from its own
    generator seeded from ``seed`` and its name, so adding one leaves the others unchanged."""
    if not 2 <= n_items <= MAX_ITEMS:
        raise ValueError(f"fixture n_items must be in 2..{MAX_ITEMS}, got {n_items}")

    def rng(name: str) -> random.Random:
        return random.Random(f"{seed}:{name}")

    train, test = chat_splits(rng("chat"), n_items)
    return {
        "sharegpt": sharegpt_rows(rng("sharegpt"), train),
        "hh_rlhf_train": hh_rlhf_rows(train),
        "hh_rlhf_test": hh_rlhf_rows(test),
        "ultrafeedback_train_prefs": ultrafeedback_rows(rng("ultrafeedback"), train),
        "ultrafeedback_test_prefs": ultrafeedback_rows(rng("ultrafeedback_test"), test),
        "alpaca_eval": alpaca_eval_rows(rng("alpaca_eval"), n_items),
        "alpaca_eval_glm": alpaca_eval_glm_rows(rng("alpaca_eval_glm"), n_items),
        "pretrain_sample": pretrain_rows(),
        "arc_easy": arc_rows(rng("arc_easy"), n_items, challenge=False),
        "arc_challenge": arc_rows(rng("arc_challenge"), n_items, challenge=True),
        "race": race_rows(rng("race"), n_items),
        "piqa": piqa_rows(rng("piqa"), n_items),
        "squadv2": squadv2_rows(rng("squadv2"), n_items),
        "squadv2_train": squadv2_rows(rng("squadv2_train"), n_items, SQUAD_TRAIN),
        "drop": drop_rows(rng("drop"), n_items),
        "wmt14-fr-en": wmt14_rows(rng("wmt14-fr-en"), n_items),
    }


def write_fixtures(out_dir: str | Path, seed: int, n_items: int) -> dict[str, Path]:
    """Write every fixture under ``out_dir`` (each file atomically); return name -> path.

    ShareGPT and AlpacaEval are JSON lists as their hub files are, df_gamed.csv a CSV;
    the rest JSONL.
    """
    out_dir = Path(out_dir)
    paths = {}
    for name, rows in fixture_rows(seed, n_items).items():
        path = out_dir / FIXTURE_FILES[name]
        if path.suffix == ".json":
            write_json(path, rows)
        elif path.suffix == ".csv":
            with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        else:
            write_jsonl(path, rows)
        paths[name] = path
    return paths
