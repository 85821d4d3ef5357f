"""The prompts runs are measured on: the benchmark's held-out requests, the task types
distillation never trains on, and the app's example prompts.

Nothing here comes from a data set. Three sets never meet (tests/test_distill.py checks it):
  specviz.train.prompts.TASKS  task types the training data is drawn from;
  HELD_OUT_TASKS               task types that never appear in training (reported apart);
  EVAL_REQUESTS                hand-written varied requests (the benchmark's held-out prompts).
PROMPTS are the three example prompts the app's pages and the shipped traces use.
"""

PROMPTS = {
    "chat": "What is the capital of France, and what is it famous for?",
    "summarise": ("Summarise in one sentence: The city council met on Tuesday to discuss the new "
                  "bike lanes. After a long debate, members voted 7 to 2 to build protected bike "
                  "lanes on Main Street, with construction starting in the spring."),
    "code edit": ("Rewrite this Python function with the variable x renamed to total. Reply with "
                  "only the code.\n\n```python\ndef add_all(items):\n    x = 0\n    for item in items:\n"
                  "        x = x + item\n    return x\n```"),
}


# task types that never appear in training: their requests are written the same way and
# answered greedily, and the draft is scored on them (held-out agreement, held-out alpha)
HELD_OUT_TASKS = {
    "speech": ("asking for a speech or a toast", [
        "Write a short toast for my sister's wedding.",
        "Write a graduation speech about taking risks.",
        "Write a two-minute speech to welcome new volunteers.",
        "Write a retirement speech for a teacher who worked at our school for 30 years."]),
    "review": ("asking for a review of a product, book or place", [
        "Write a review of a pair of wireless headphones.",
        "Write a short review of a cosy Italian restaurant.",
        "Review a fantasy novel you enjoyed.",
        "Write a hotel review for a family holiday."]),
    "idiom": ("asking what an idiom or saying means", [
        "What does 'break the ice' mean?",
        "Explain the saying 'the early bird catches the worm'.",
        "What does 'a blessing in disguise' mean?",
        "Where does the phrase 'bite the bullet' come from?"]),
    "quiz": ("asking for quiz or trivia questions", [
        "Make a five-question quiz about the solar system.",
        "Give me three trivia questions about animals with answers.",
        "Write a multiple-choice question about the French Revolution.",
        "Create a quiz for kids about healthy eating."]),
    "job_ad": ("asking for a job posting", [
        "Write a job posting for a part-time barista.",
        "Write a job advert for a junior web developer.",
        "Write a listing for a summer camp counsellor.",
        "Write a job description for a delivery driver."]),
    "dialogue": ("asking for a dialogue between characters", [
        "Write a dialogue between a customer and a waiter.",
        "Write a conversation between two friends planning a trip.",
        "Write a short scene where a detective questions a witness.",
        "Write a dialogue between a teacher and a student who is late."]),
    "rules": ("asking how a game or sport is played", [
        "How do you play chess?",
        "Explain the rules of basketball.",
        "How do you play the card game Go Fish?",
        "What are the basic rules of tennis?"]),
    "agenda": ("asking for a meeting agenda or notes", [
        "Write an agenda for a one-hour team meeting about our new website.",
        "Make meeting notes for a parent-teacher association meeting.",
        "Create an agenda for a project kick-off meeting.",
        "Write minutes for a book club meeting."]),
}


# Hand-written varied requests (none from the templates above): the benchmark's held-out
# prompts, by task type. Keep each short enough to answer in the app's 64-token default.
EVAL_REQUESTS = [
    ("email", "Write a short email to my neighbour asking if they could keep an eye on our cat "
              "while we are away next weekend."),
    ("email", "Write an email to a client apologising that the invoice we sent had the wrong "
              "amount, and attach the corrected one."),
    ("email", "Write a friendly email reminding the book club that we meet on Thursday at 7 and "
              "that Anna is bringing snacks."),
    ("recipe", "How do I make pancakes from scratch?"),
    ("recipe", "Give me a recipe for a simple lentil curry for four people."),
    ("recipe", "What's an easy way to make guacamole?"),
    ("rewrite", "Rewrite this to sound more professional: hey guys, the meeting is moved to "
                "tuesday cause the boss is out, dont forget to bring ur reports"),
    ("rewrite", "Make this paragraph shorter: Our company was founded in 1998 by two friends who "
                "shared a passion for coffee. Over the years we have grown from a small stand at "
                "a farmers market to twelve shops across the region, and we still roast every "
                "bean ourselves."),
    ("grammar", "Fix the grammar: Me and him goes to the store yesterday and buyed three apple "
                "and a bread."),
    ("grammar", "Correct the spelling in this sentence: I recieved you're message and will "
                "definately reply tommorow."),
    ("legalese", "Translate this into plain English: The Lessee shall not assign, sublet or "
                 "otherwise part with possession of the Premises or any part thereof without "
                 "the prior written consent of the Lessor, such consent not to be unreasonably "
                 "withheld."),
    ("legalese", "What does this mean in simple words? Notwithstanding anything to the contrary "
                 "herein, neither party shall be liable for any failure or delay in performance "
                 "due to causes beyond its reasonable control."),
    ("list", "List six things I should check before a long drive."),
    ("list", "What are some good houseplants for a dark apartment?"),
    ("list", "Give me five ideas for a rainy Sunday with kids."),
    ("explain", "Why does bread go stale?"),
    ("explain", "How does a microwave oven heat food?"),
    ("explain", "Explain what a mortgage is in two or three sentences."),
    ("code", "Write a Python function that returns the n-th Fibonacci number."),
    ("code", "How do I reverse a string in JavaScript?"),
    ("code", "Write a SQL query to count the orders per customer in a table called orders."),
    ("summary", "Summarize this: The city council voted on Monday to turn the old railway line "
                "into a walking and cycling path. Work will start in spring and the first "
                "section, from the station to the river, should open by the end of the year."),
    ("fact", "What is the tallest mountain in Africa?"),
    ("fact", "How many minutes are in a day?"),
]


def round_robin(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(task, prompt) pairs reordered so every task type comes once before any comes twice."""
    by_task: dict = {}
    for task, prompt in pairs:
        by_task.setdefault(task, []).append(prompt)
    out = []
    for i in range(max(map(len, by_task.values()), default=0)):
        out += [(task, ps[i]) for task, ps in by_task.items() if i < len(ps)]
    return out


def eval_requests() -> list[tuple[str, str]]:
    """The hand-written held-out requests, task types interleaved (any prefix is varied)."""
    return round_robin(EVAL_REQUESTS)
