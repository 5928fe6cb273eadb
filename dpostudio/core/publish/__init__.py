"""Publishing a run: export the adapter or a merged model, write its model card, push both to the Hub."""
