"""Article pages: URLs (:mod:`.urls`), bytes to text (:mod:`.decode`), HTML to an Article
(:mod:`.extract`), and fetching (:mod:`.fetch`)."""
