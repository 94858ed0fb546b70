"""Español: el catálogo de cada texto de la aplicación y de los tableros."""

from __future__ import annotations

from certamen.results.i18n.catalogue import (
    AccessTexts,
    AppTexts,
    AuditTexts,
    ChannelTexts,
    ContestDashboardTexts,
    DeadLetterTexts,
    FilterTexts,
    LogsTexts,
    Messages,
    ResultsTexts,
    RuleTexts,
    SystemDashboardTexts,
)

MESSAGES = Messages(
    app=AppTexts(
        language="Idioma",
        bad_configuration="**Certamen no puede arrancar: configuración incorrecta.** {error}",
        page_results="Resultados",
        page_logs="Registro",
        page_dead_letters="Mensajes fallidos",
        page_audit="Auditoría",
        server_unreachable=(
            "**No se puede conectar con {server}** en `{address}`. Esta parte de la página "
            "vuelve sola cuando el servidor responda; el resto de la aplicación sigue funcionando."
        ),
        server_slow=(
            "**{server} está tardando demasiado** en `{address}`: no respondió a esta lectura "
            "en el tiempo que espera la página. Esta parte de la página lo vuelve a intentar "
            "al actualizarla; el resto de la aplicación sigue funcionando."
        ),
        no_votes_yet="aún sin votos",
        choose="Elija",
    ),
    access=AccessTexts(
        open_local=(
            "Abierta sin inicio de sesión: esta aplicación escucha en 127.0.0.1 y solo se "
            "alcanza desde esta máquina."
        ),
        open_cluster=(
            "Abierta sin inicio de sesión: esta aplicación es local al clúster y solo se "
            "alcanza desde dentro del clúster."
        ),
        sign_in_title="Iniciar sesión",
        sign_in_prompt=(
            "Esta es la aplicación de los organizadores del Certamen. Inicie sesión con su "
            "cuenta para verla."
        ),
        sign_in_button="Iniciar sesión",
        sign_out_button="Cerrar sesión",
        signed_in_as="Sesión iniciada como **{account}**",
        role_organiser="Organizador: puede reenviar los mensajes fallidos.",
        role_viewer="Puede consultar; solo los organizadores reenvían mensajes fallidos.",
        not_configured=(
            "**El inicio de sesión no está configurado** y esta aplicación se alcanza desde "
            "fuera de esta máquina: no se muestra nada. Configure `[auth]` en los secretos de "
            "Streamlit o, si la aplicación solo se alcanza desde dentro del clúster, ponga "
            "`CERTAMEN_STREAMLIT_VISIBILITY` en `cluster-local`."
        ),
    ),
    channels=ChannelTexts(grpc="gRPC", wasm="WebAssembly", legacy="productor anterior"),
    rules=RuleTexts(
        too_large="demasiado grande",
        utf8="no es UTF-8",
        json="no es JSON",
        type="tipo incorrecto",
        duplicate="repetido",
        unknown_field="campo desconocido",
        required="falta",
        invalid_unicode="Unicode no válido",
        control_character="carácter de control",
        empty="vacío",
        too_long="demasiado largo",
        format="formato incorrecto",
        range="fuera de rango",
        precision="demasiados decimales",
        conflict="identificador de voto reutilizado",
        not_in_catalog="no está en el catálogo",
        unknown_type="no es un voto",
    ),
    results=ResultsTexts(
        title="Resultados",
        caption=(
            "En vivo desde Redis: cifras cada {numbers} s, gráficas cada {charts} s — {contest}"
        ),
        open_contest="certamen abierto (sin catálogo)",
        total_votes="Votos en total",
        votes_per_second="Votos por segundo (últimos 5 s)",
        votes_via="Votos por {channel}",
        dead_letters="Mensajes fallidos",
        standings_tables="Tablas de posiciones",
        votes_by_band="Votos por banda",
        by_channel="Por canal",
        votes_per_second_minute="Votos por segundo, último minuto",
        votes_by_album="Votos por álbum",
        average_rank_by_album="Calificación media por álbum",
        bands="Bandas",
        albums="Álbumes",
        band="Banda",
        album="Álbum",
        channel="Canal",
        votes="Votos",
        average_rank="Calificación media",
        time="Hora ({zone})",
    ),
    logs=LogsTexts(
        title="Registro de votos",
        band="Banda",
        album="Álbum",
        channel="Canal",
        since="Desde ({zone})",
        until="Hasta ({zone})",
        search="Buscar banda o álbum",
        find_vote="Buscar un voto por su identificador",
        slow_log=(
            "En el FerretDB de la instalación local, toda lectura del registro de votos salvo "
            "la búsqueda por identificador recorre el registro entero: minutos con un millón "
            "de votos (docs/dashboards.md). Busque el voto por su identificador o consulte los "
            "resultados en vivo."
        ),
        find_vote_help=(
            "El identificador del voto que figura en el comprobante del votante. Se encuentra al "
            "instante por largo que sea el registro; los demás filtros acotan lo encontrado."
        ),
        rows_per_page="Filas por página",
        matching="Votos que coinciden: **{count}** — página {page} de {pages}",
        download="Descargar CSV de los votos que coinciden",
        download_help=(
            "Los valores guardados: horas en UTC (RFC 3339), nombres de columna en inglés."
        ),
        cannot_filter="No se puede filtrar por {field}: {problem}",
        received_at="Recibido",
        name="Banda",
        year="Año",
        rank="Calificación",
        vote_id="Id. del voto",
        processed_at="Contado",
    ),
    filters=FilterTexts(
        field_band="banda",
        field_album="álbum",
        field_channel="canal",
        field_since="hora de inicio",
        field_until="hora de fin",
        field_text="texto de búsqueda",
        field_vote_id="identificador del voto",
        field_rule="motivo",
        field_page="página",
        field_page_size="tamaño de página",
        not_a_list="debe ser una lista de nombres",
        too_many="como máximo {limit} opciones",
        empty_choice="cada opción debe ser un texto no vacío",
        choice_too_long="cada opción como máximo de {limit} caracteres",
        unknown_channel="debe ser uno de {choices}",
        not_a_time="debe ser una fecha y hora",
        range_reversed="el fin del intervalo es anterior a su inicio",
        not_text="debe ser texto",
        text_too_long="como máximo {limit} caracteres",
        not_a_vote_id="de 8 a 128 de los caracteres A-Z a-z 0-9 . _ : -",
        not_a_rule="un motivo es una palabra corta en minúsculas",
        not_whole="debe ser un número entero",
        page_from_one="debe ser un número entero desde 1",
    ),
    dead_letters=DeadLetterTexts(
        title="Mensajes fallidos",
        caption=(
            "Eventos que el consumidor no pudo contar, con el campo y la regla que los rechazó."
        ),
        by_reason="Mensajes fallidos por motivo",
        reason="Motivo",
        count="Mensajes fallidos",
        none_yet="No hay mensajes fallidos: se contaron todos los eventos.",
        failed_at="Falló",
        field="Campo",
        rule="Regla",
        message="Mensaje",
        event_id="Id. del evento",
        data="Datos",
        not_utf8="(no es UTF-8, {size} bytes, base64) {data}",
        status="Estado",
        status_open="pendiente",
        status_replayed="corregido",
        show_put_right="Mostrar también los corregidos",
        listed="Mensajes fallidos en la lista: **{count}**",
        select="Mensajes para la vista previa o el reenvío",
        select_all="Todos los de la lista",
        select_help=(
            "Seleccione mensajes en la tabla, vea qué haría un reenvío (no se escribe nada) y "
            "reenvíelos cuando su causa esté corregida (un catálogo arreglado, un álbum añadido)."
        ),
        preview_button="Vista previa",
        replay_button="Reenviar",
        replay_viewer=(
            "Solo los organizadores reenvían mensajes fallidos; usted puede ver la vista previa."
        ),
        replay_needs_sign_in=(
            "Reenviar requiere un organizador con sesión iniciada (aquí no hay inicio de sesión "
            "configurado); puede ver la vista previa o usar `certamen dead-letters replay`."
        ),
        preview_title=(
            "Vista previa para {by} ({when}): lo que haría un reenvío; no se escribió nada"
        ),
        replay_title="Reenviado por {by} ({when})",
        stopped="El reenvío se detuvo antes de terminar: {why}. Mensajes sin tratar: {count}.",
        letter="Mensaje",
        outcome="Resultado",
        reason_now="Motivo ahora",
        reason_before="Motivo anterior",
        vote_id="Id. del voto",
        by="Por",
        started="Inicio",
        history="Reenvíos",
        no_replays="Aún no hay reenvíos.",
        outcome_counted="contado: corregido",
        outcome_already_counted="ya estaba contado: corregido, no se añadió nada",
        outcome_still_dead="sigue siendo un mensaje fallido",
        outcome_skipped="omitido: ya corregido, o se está reenviando",
        outcome_not_found="no existe ese mensaje fallido",
        outcome_unavailable="un almacén no responde: no se hizo nada, inténtelo de nuevo",
        would_count="se contaría",
        would_find_counted="ya estaba contado: no se añadiría nada",
        would_stay_dead="seguiría siendo un mensaje fallido",
        would_skip="se omitiría: ya corregido, o se está reenviando",
    ),
    audit=AuditTexts(
        title="Auditoría",
        caption=(
            "Vuelve a contar el registro de votos de MongoDB y lo pone junto a cada contador "
            "de Redis. Ejecútela cuando no entren votos: MongoDB se escribe primero, así que "
            "pueden verse votos en curso."
        ),
        run="Ejecutar la auditoría",
        agree="**Redis y MongoDB coinciden** en todos los contadores (auditoría de {when}).",
        differ=(
            "**Contadores que difieren entre Redis y MongoDB: {count}** (auditoría de {when})."
        ),
        votes_in_redis="Votos en Redis",
        votes_in_mongodb="Votos en MongoDB",
        differences="Diferencias",
        albums="Álbumes",
        totals="Bandas, canales, total, mensajes fallidos",
        band="Banda",
        album="Álbum",
        votes_redis="Votos (Redis)",
        votes_mongodb="Votos (MongoDB)",
        rank_sum_redis="Suma de calificaciones (Redis)",
        rank_sum_mongodb="Suma de calificaciones (MongoDB)",
        agrees="Coincide",
        counter="Contador",
        name="Nombre",
        redis="Redis",
        mongodb="MongoDB",
        press_run="Pulse **{run}** para comparar ahora los dos almacenes.",
        recounting="Recontando el registro de votos en MongoDB: {read} de {total} votos leídos.",
        counter_band="banda",
        counter_channel="canal",
        counter_total="total",
        counter_dead_letters="mensajes fallidos",
        all_votes="todos los votos",
        dead_open="sin corregir",
        dead_rule="sin corregir, regla {rule}",
        dead_replayed="corregidos por un reenvío",
        dead_replayed_logged="corregidos: sus votos en el registro",
    ),
    contest_dashboard=ContestDashboardTexts(
        title="Certamen — concurso",
        description="Conteo en vivo del Certamen, leído de Redis.",
        total_votes="Votos en total",
        total_votes_help="GET {key}, actualizado cada segundo.",
        dead_letters="Mensajes fallidos",
        dead_letters_help="GET {key}: eventos que el consumidor no pudo contar.",
        by_channel="Votos por canal",
        by_channel_help="HGETALL {key}: productores gRPC y WebAssembly, registros heredados.",
        dead_letters_by_reason="Mensajes fallidos por motivo",
        dead_letters_by_reason_help="HGETALL {key}: la regla que incumplió cada uno.",
        by_band="Votos por banda",
        by_band_help="HGETALL {key}, una barra por banda (también las que están en cero).",
        per_second="Votos por segundo",
        per_second_help="XRANGE {key} en el intervalo del tablero: una entrada por segundo.",
        by_album="Votos por álbum",
        by_album_help="HGETALL {key} (campos «banda — álbum»).",
        average_rank="Calificación media por álbum",
        average_rank_help=(
            "HGETALL {rank_sum} ÷ HGETALL {votes}, por álbum "
            "(transformaciones de Grafana: merge, reduce, add field from calculation)."
        ),
        band="Banda",
        album="Álbum",
        votes="Votos",
        reason="Motivo",
        dead_letters_column="Mensajes fallidos",
        rank_sum="Suma de calificaciones",
        average_rank_column="Calificación media",
        none="ninguno",
    ),
    system_dashboard=SystemDashboardTexts(
        title="Certamen — sistema",
        description="Productores, fuente y consumidor, según sus métricas de Prometheus.",
        accepted="Votos aceptados/s",
        rejected="Boletas rechazadas/s",
        refused_or_unknown="Votos rehusados o inciertos/s",
        lag="Retraso de la fuente (registros)",
        outcomes="Resultados de los productores por canal",
        rejected_by_rule="Boletas rechazadas por regla",
        consumer_throughput="Rendimiento del consumidor por resultado",
        consumer_failures="Fallos del consumidor (reintentados) por causa",
        lag_by_partition="Retraso de la fuente por partición",
        latency="Latencia del productor hasta la confirmación de Kafka (p50, p99)",
        retries="Reintentos de la fuente por estado",
    ),
)
