"""Google Docs and Drive as the postmortem store: auth, thin API calls, the Docs reader and the store."""
