"""Grafana dashboards as code: ``python -m grafana.generate`` writes ``grafana/dashboards/*.json``.

Built with grafana-foundation-sdk (types generated from Grafana 11.6's schema);
the Redis datasource plugin has no SDK types, so ``datasources`` adds its query model.
"""
