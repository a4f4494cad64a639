"""The PICACO optimiser as a LangGraph state machine.

``state`` holds the state and input schemas (and the typed dicts that travel through the graph),
``context`` the run-time settings Studio shows as a form, ``nodes`` one function per step,
``routes`` the routers that pick the next step and fan work out with ``Send``, and ``builder``
wires them into a graph (``build_graph`` and the module-level ``graph`` that ``langgraph.json``
serves).
"""
