"""Services: the domain operations. They take a Session, flush, and never commit
(routes and tasks commit). Errors are ``alp.errors.AlpError`` subclasses."""
