"""Who is asking and what they may do: accounts, rights, and the gate every request passes.

``identity`` reads Basic credentials into a user; ``htpasswd`` and ``password_hashes`` check
them against an Apache htpasswd file (in constant work per kind of hash, so timing tells no
names); ``rights`` maps users to actions per project; ``throttle`` slows password guessing;
``policy`` combines them into the ``Gate`` the routes ask; ``reloading`` notices a changed
file without a restart. ``directory`` checks names against an LDAP directory (and finds
their groups) over ``ldap_client``'s bounded, failed-over connections, with names escaped
by ``ldap_escape``; ``policy.Accounts`` asks it for the names htpasswd does not have.

May import: ``errors``, ``dists``, ``core``. Never an HTTP framework: the edge and ``web``
turn its refusals into statuses.
"""
