"""What the target is asked while it writes its own training data, and what it is tested on.

Nothing here comes from a data set: the target writes user requests itself, seeded by the
short task-type descriptions and example requests below (few-shot, so a 135M model stays on
task), then answers them. Copy-style requests (fix, rewrite, summarise, explain code) wrap
passages the target wrote itself. TASKS never meet the held-out task types and the
hand-written evaluation requests (specviz.measure.prompts).
"""
import random
import re

# name -> (description completing "messages people send to an AI assistant, ...", seeds)
TASKS = {
    "recipe": ("asking for a recipe or cooking help", [
        "Can you give me a simple recipe for banana bread?",
        "What's a quick vegetarian dinner I can make with chickpeas and spinach?",
        "How do I make a creamy tomato soup without cream?",
        "I have eggs, cheese and leftover rice. What can I cook tonight?",
        "Give me a recipe for chocolate chip cookies that stay soft."]),
    "email": ("asking for an email to be written", [
        "Write an email to my landlord asking when the heating will be fixed.",
        "Draft a short email inviting my team to a lunch on Friday.",
        "Write a polite email to a customer explaining that their order is delayed.",
        "Help me write an email asking my professor for an extension on my essay.",
        "Write a follow-up email after a job interview for a marketing role."]),
    "list": ("asking for a list of items, ideas or tips", [
        "List five ways to save water at home.",
        "Give me a packing list for a weekend camping trip.",
        "What are ten fun things to do on a rainy day?",
        "List some healthy snacks I can take to work.",
        "Name seven famous painters and one painting by each."]),
    "python": ("asking for Python code", [
        "Write a Python function that checks whether a string is a palindrome.",
        "How do I read a CSV file in Python and print the second column?",
        "Write a Python script that counts how often each word appears in a text file.",
        "Show me how to sort a list of dictionaries by a key in Python.",
        "Write a Python class for a bank account with deposit and withdraw methods."]),
    "code": ("asking for code in JavaScript, SQL, HTML or the shell", [
        "Write a JavaScript function that returns the largest number in an array.",
        "Write an SQL query that finds the ten customers who spent the most.",
        "How do I rename all .txt files in a folder to .md with a bash command?",
        "Make a simple HTML page with a heading and a contact form.",
        "Write a JavaScript snippet that changes the page colour when a button is clicked."]),
    "explain": ("asking how something works or why something happens", [
        "How does a refrigerator keep food cold?",
        "Why is the sky blue?",
        "Can you explain how vaccines train the immune system?",
        "How do airplanes stay in the air?",
        "Explain how a credit score is calculated."]),
    "fact": ("asking a short factual question", [
        "What is the capital of Australia?",
        "How many bones are in the human body?",
        "Who wrote Pride and Prejudice?",
        "When did the first person walk on the moon?",
        "What is the boiling point of water in Fahrenheit?"]),
    "define": ("asking what a word or idea means", [
        "What does 'opportunity cost' mean?",
        "What is the difference between weather and climate?",
        "Define photosynthesis in simple terms.",
        "What does the word 'ubiquitous' mean? Use it in a sentence.",
        "What is inflation?"]),
    "advice": ("asking for personal advice", [
        "How can I stop procrastinating when I work from home?",
        "My friend forgot my birthday. How should I bring it up?",
        "What should I do if I can't fall asleep at night?",
        "How do I stay motivated while learning to play the guitar?",
        "I'm nervous about my first day at a new job. Any tips?"]),
    "compare": ("asking to compare two things", [
        "What is the difference between a crocodile and an alligator?",
        "Should I buy a laptop or a tablet for university?",
        "Compare renting and buying a home.",
        "Which is better for beginners, Python or JavaScript?",
        "How is baking soda different from baking powder?"]),
    "story": ("asking for a short story", [
        "Write a short story about a robot who learns to paint.",
        "Tell me a bedtime story about a brave little mouse.",
        "Write a mystery story set on a train, in under 200 words.",
        "Write a funny story about a cat who thinks it is a dog.",
        "Write a short science fiction story about the last tree on Earth."]),
    "poem": ("asking for a poem or song lyrics", [
        "Write a poem about the ocean at night.",
        "Write a haiku about autumn leaves.",
        "Write a short rhyming poem for my mom's birthday.",
        "Write song lyrics about a long road trip with friends.",
        "Write a limerick about a forgetful wizard."]),
    "howto": ("asking for step-by-step instructions", [
        "How do I change a flat tire?",
        "What are the steps to plant tomatoes in a pot?",
        "How do I set up a new email account?",
        "Walk me through making a budget for the month.",
        "How do I clean a cast iron pan?"]),
    "plan": ("asking for a plan, schedule or itinerary", [
        "Plan a three-day trip to Rome for me.",
        "Make a weekly workout plan for a beginner.",
        "Create a study schedule for my exams in two weeks.",
        "Plan a birthday party for a seven-year-old.",
        "Give me a meal plan for a week of healthy lunches."]),
    "ideas": ("asking for ideas or names", [
        "Give me ideas for a science fair project.",
        "Suggest some names for a coffee shop by the sea.",
        "What are some gift ideas for my dad who loves fishing?",
        "Help me brainstorm topics for a blog about gardening.",
        "Suggest a theme for our office holiday party."]),
    "math": ("asking a math question or word problem", [
        "If a train travels 60 miles per hour for 2.5 hours, how far does it go?",
        "What is 15 percent of 240?",
        "How do I calculate the area of a circle?",
        "Solve for x: 3x + 7 = 22.",
        "A shirt costs $40 and is 25% off. What is the sale price?"]),
    "note": ("asking for a short message, note or social media post", [
        "Write a thank-you note to my neighbour for watering my plants.",
        "Write a tweet announcing our bakery's new opening hours.",
        "Write a short text to my friend saying I'll be late.",
        "Write a LinkedIn post about finishing my first marathon.",
        "Write a birthday message for a coworker."]),
    "marketing": ("asking for a product description or advertisement", [
        "Write a product description for a stainless steel water bottle.",
        "Write an ad for a dog walking service.",
        "Write a catchy slogan for a new brand of running shoes.",
        "Describe our cosy cabin for a holiday rental listing.",
        "Write a short description of a handmade candle for an online shop."]),
    "letter": ("asking for a formal letter", [
        "Write a cover letter for a job as a library assistant.",
        "Write a complaint letter about a noisy construction site.",
        "Write a letter of recommendation for my former intern.",
        "Write a formal letter asking my bank to close my account.",
        "Write a resignation letter that keeps a good relationship with my boss."]),
    "opinion": ("asking for an opinion or the pros and cons of something", [
        "What are the pros and cons of working from home?",
        "Is it worth learning Latin today?",
        "What are the advantages and disadvantages of electric cars?",
        "Do you think homework should be banned?",
        "Is it better to exercise in the morning or in the evening?"]),
    "health": ("asking about health, food or fitness", [
        "How much water should I drink every day?",
        "What are good stretches for lower back pain?",
        "Is it bad to eat late at night?",
        "How can I build muscle without going to a gym?",
        "What foods are high in iron?"]),
    "history": ("asking about history", [
        "Why did the Roman Empire fall?",
        "What was the Industrial Revolution?",
        "Tell me about the history of the bicycle.",
        "Who was Cleopatra?",
        "What caused the First World War?"]),
    "science": ("asking a science question", [
        "What is a black hole?",
        "How do plants make oxygen?",
        "Why do we have seasons?",
        "What is DNA made of?",
        "How do magnets work?"]),
    "tech": ("asking for help with a computer or phone problem", [
        "My laptop is running very slowly. What can I do?",
        "How do I free up storage on my phone?",
        "My Wi-Fi keeps disconnecting. How do I fix it?",
        "How do I back up my photos?",
        "Why does my computer make a loud fan noise?"]),
    "language": ("asking about grammar, words or writing style", [
        "When should I use 'who' and when 'whom'?",
        "What is the difference between 'affect' and 'effect'?",
        "Is it wrong to start a sentence with 'and'?",
        "What is a synonym for 'happy' that sounds more formal?",
        "How do I use a semicolon correctly?"]),
    "career": ("asking about jobs, interviews or careers", [
        "What questions should I ask at the end of a job interview?",
        "How do I write a good resume with no experience?",
        "How can I ask my manager for a raise?",
        "What skills do I need to become a data analyst?",
        "How do I answer 'what is your biggest weakness'?"]),
    "travel": ("asking about travel", [
        "What should I see in Tokyo if I only have two days?",
        "How do I avoid jet lag?",
        "What is the best time of year to visit Iceland?",
        "What should I pack for a beach holiday?",
        "Is it safe to drink tap water in Portugal?"]),
    "money": ("asking about money, saving or budgeting", [
        "How can I save money on groceries?",
        "What is the difference between a Roth IRA and a traditional IRA?",
        "How do I start investing with a small amount of money?",
        "Should I pay off debt or save first?",
        "How does compound interest work?"]),
    "study": ("asking about studying, learning or teaching", [
        "What is the best way to memorise vocabulary?",
        "How can I explain fractions to my eight-year-old?",
        "Give me tips for writing a good essay.",
        "How do I take better notes in lectures?",
        "How can I learn to type faster?"]),
    "roleplay": ("asking the assistant to play a role or pretend", [
        "Pretend you are a tour guide in Paris and welcome me to the city.",
        "Act as a job interviewer and ask me three questions for a teaching job.",
        "You are a pirate captain. Tell your crew about the treasure.",
        "Pretend to be my personal trainer and motivate me to do one more push-up.",
        "Act like a friendly librarian and recommend me a book."]),
    "table": ("asking for a table or structured answer", [
        "Make a table of the planets and their distance from the sun.",
        "Create a markdown table comparing three popular programming languages.",
        "Give me a table of common kitchen measurements and their conversions.",
        "Make a chart of the days of the week with one chore for each day.",
        "List the continents with their largest country in a table."]),
    "joke": ("asking for a joke, riddle or something fun", [
        "Tell me a joke about computers.",
        "Give me a riddle for kids.",
        "Tell me a fun fact about octopuses.",
        "Tell me a pun about bread.",
        "What is a good icebreaker game for a party?"]),
    "outline": ("asking for an outline, essay or report", [
        "Write an outline for an essay about social media and teenagers.",
        "Write a short essay about the importance of sleep.",
        "Help me structure a report on renewable energy.",
        "Write an introduction paragraph for an essay about climate change.",
        "Write a short persuasive essay on why cities need more parks."]),
    "legal": ("asking for a contract clause, a policy or terms and conditions", [
        "Write a privacy policy paragraph for a small online shop.",
        "Write a clause for a rental agreement about pets.",
        "Write the terms and conditions for a photography contest.",
        "Draft a confidentiality clause for a freelance contract.",
        "Write a refund policy for a yoga studio."]),
    "summary": ("asking for a summary of a book, film or event", [
        "Summarize the plot of Romeo and Juliet.",
        "Give me a short summary of the story of Cinderella.",
        "What happens in the book The Hobbit?",
        "Summarize what happened during the moon landing.",
        "Give me a summary of how the internet was invented."]),
}


# copy-style requests built on a passage the target wrote: (name, template); {text} is the
# passage, {code} a code block. Held-out copy types are in HELD_OUT_REWRITES.
REWRITES = [
    ("fix", "Fix the grammar and spelling mistakes in this text:\n\n{text}"),
    ("fix", "Correct the errors in the following paragraph and return it:\n\n{text}"),
    ("fix", "Proofread this for me:\n\n{text}"),
    ("formal", "Rewrite this in a more formal tone:\n\n{text}"),
    ("casual", "Make this sound friendlier and more casual:\n\n{text}"),
    ("simple", "Rewrite this so a ten-year-old can understand it:\n\n{text}"),
    ("plain", "Translate this into plain English:\n\n{text}"),
    ("summarize", "Summarize this in two sentences:\n\n{text}"),
    ("summarize", "TL;DR:\n\n{text}"),
    ("bullets", "Turn this into a bulleted list of the main points:\n\n{text}"),
    ("shorten", "Make this shorter without losing the meaning:\n\n{text}"),
    ("paraphrase", "Paraphrase the following text:\n\n{text}"),
    ("title", "Suggest a title for this text:\n\n{text}"),
    ("continue", "Continue this text:\n\n{text}"),
    ("repeat", "Repeat this text exactly, then say what it is about:\n\n{text}"),
    ("code_explain", "What does this code do?\n\n{code}"),
    ("code_comment", "Add comments to this code:\n\n{code}"),
    ("code_fix", "Is there a bug in this code? Return a corrected version.\n\n{code}"),
]
HELD_OUT_REWRITES = [
    ("past", "Rewrite this text in the past tense:\n\n{text}"),
    ("tweet", "Turn this into a tweet:\n\n{text}"),
    ("code_rename", "Give the variables in this code clearer names:\n\n{code}"),
]


# ----------------------------------------------------------------------------- request writing


def request_prompt(description: str, seeds: list[str], rng: random.Random, shots: int = 3) -> str:
    """A few-shot numbered list the target continues with one more request (raw completion)."""
    chosen = rng.sample(seeds, min(shots, len(seeds)))
    lines = "".join(f"{i}. {s}\n" for i, s in enumerate(chosen, 1))
    return f"Here are examples of messages people send to an AI assistant, {description}:\n{lines}{len(chosen) + 1}."


def clean_request(text: str, seeds: list[str]) -> str | None:
    """The first line of a completion if it looks like a request, else None."""
    line = text.strip().split("\n")[0].strip().strip('"').strip()
    words = line.split()
    if not 4 <= len(words) <= 60 or line in seeds or not re.search(r"[a-zA-Z]{3}", line):
        return None
    if re.match(r"^(\d+[.)]|here are|examples?\b|messages?\b)", line.lower()):
        return None
    return line if line[-1] in ".?!:)'\"" else None


# ----------------------------------------------------------------------------- passages

TYPO_SWAPS = [("their", "there"), ("your", "you're"), ("its", "it's"), ("then", "than"),
              ("to", "too"), ("were", "where"), ("affect", "effect"), ("a lot", "alot")]


def add_typos(text: str, rng: random.Random, rate: float = 0.08) -> str:
    """Mistakes a grammar-fix request would contain: swapped, dropped or doubled letters,
    confused words, a missing capital."""
    words = text.split(" ")
    for i, w in enumerate(words):
        if rng.random() > rate or len(w) < 4 or not w.isalpha():
            continue
        j = rng.randrange(1, len(w) - 1)
        kind = rng.randrange(3)
        words[i] = (w[:j] + w[j + 1] + w[j] + w[j + 2:] if kind == 0 else
                    w[:j] + w[j + 1:] if kind == 1 else w[:j] + w[j] + w[j:])
    out = " ".join(words)
    for a, b in rng.sample(TYPO_SWAPS, 2):
        out = re.sub(rf"\b{a}\b", b, out, count=1)
    return out[0].lower() + out[1:] if out and rng.random() < 0.5 else out


def passage(answer: str, rng: random.Random, max_words: int = 110) -> str | None:
    """A passage cut from one of the target's answers: whole sentences, at most max_words."""
    text = answer.strip()
    if "```" in text:
        return None
    sentences = re.split(r"(?<=[.!?])\s+", text.replace("\n", " "))
    out, n = [], 0
    for s in sentences[rng.randrange(0, max(1, min(3, len(sentences) - 2))):]:
        if n + len(s.split()) > max_words and out:
            break
        out.append(s)
        n += len(s.split())
    result = " ".join(out).strip()
    return result if 15 <= n and result[-1:] in ".!?" else None


def code_block(answer: str) -> str | None:
    """The first fenced code block of an answer, if it is short enough to quote."""
    m = re.search(r"```[a-zA-Z]*\n(.+?)```", answer, re.S)
    if not m or not 2 <= m.group(1).count("\n") <= 25:
        return None
    return m.group(0).strip()


def copy_request(template: str, name: str, answer: str, rng: random.Random) -> str | None:
    """A copy-style request over a passage or code block of answer, or None if it has none."""
    if "{code}" in template:
        code = code_block(answer)
        return template.format(code=code) if code else None
    text = passage(answer, rng)
    if text is None:
        return None
    return template.format(text=add_typos(text, rng) if name == "fix" else text)
