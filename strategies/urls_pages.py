"""Strategy pages and backtests, under /strategies/."""

from django.urls import path

from strategies import views

app_name = "strategy_pages"
urlpatterns = [
    path("", views.strategy_list, name="strategy_list"),
    path("<int:pk>/", views.strategy_detail, name="strategy_detail"),
    path("<int:pk>/track-record/", views.track_record, name="track_record"),
    path("<int:pk>/track-record.json", views.track_record_json, name="track_record_json"),
    path("<int:pk>/backtest/", views.backtest_new, name="backtest_new"),
    path("backtests/", views.backtest_list, name="backtest_list"),
    path("backtests/<int:pk>/", views.backtest_detail, name="backtest_detail"),
    path("backtests/<int:pk>/trades.csv", views.backtest_trades_csv, name="backtest_trades_csv"),
]
